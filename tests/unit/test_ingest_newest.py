"""Which change to a record is the newest: one rule for planning, FIFO rounds and superseding (ingest.newest)."""

from __future__ import annotations

from ingest.decode import Message
from ingest.newest import RecordChanges, newest_per_record
from tests.support.batch import message


def by_id(
    pairs: list[tuple[Message, str | None]], *, fifo: bool
) -> dict[str, RecordChanges[tuple[Message, str | None]]]:
    return newest_per_record(pairs, record=lambda pair: pair[1], message=lambda pair: pair[0], fifo=fifo)


def test_newest_standard_queue_the_latest_sent_timestamp_wins_whatever_the_position() -> None:
    first, second, third = message(0, sent=300), message(1, sent=100), message(2, sent=200)

    result = by_id([(first, "A"), (second, "A"), (third, "A")], fifo=False)

    assert result["A"].newest == (first, "A")
    assert result["A"].older == ((second, "A"), (third, "A"))  # oldest first


def test_newest_standard_queue_equal_timestamps_the_later_position_wins() -> None:
    first, second = message(0, sent=100), message(1, sent=100)

    assert by_id([(second, "A"), (first, "A")], fifo=False)["A"].newest == (second, "A")


def test_newest_fifo_queue_the_group_order_wins_whatever_the_sent_timestamp() -> None:
    first, second = message(0, sent=900, group="g"), message(1, sent=100, group="g")

    result = by_id([(first, "A"), (second, "A")], fifo=True)

    assert result["A"] == RecordChanges(newest=(second, "A"), older=((first, "A"),))


def test_newest_changes_of_no_record_are_left_out_and_records_keep_their_first_appearance_order() -> None:
    pairs = [(message(0), "B"), (message(1), None), (message(2), "A"), (message(3), "B")]

    result = by_id(pairs, fifo=False)

    assert list(result) == ["B", "A"]
    assert result["A"] == RecordChanges(newest=pairs[2], older=())
    assert result["B"] == RecordChanges(newest=pairs[3], older=(pairs[0],))
