"""The spill end to end: a backlog in moto's SQS drained by the workflow's real steps into import jobs the
emulator runs from moto's S3, then the resumed stream through the real handler (``local.spill_bench.SpillWorld``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from contract import ERROR_CODE_ATTRIBUTE, ORIGIN_MESSAGE_ID_ATTRIBUTE, ErrorCode
from local.emulator import EmulatorConfig
from local.environment import LocalPipeline
from local.spill_bench import SpillWorld
from spill.drain import DrainSettings

pytestmark = pytest.mark.integration

# Interactions imports need 1,000 records; these backlogs are small, so the tests lower the minimum (the emulator's
# too) to 5.
MIN_RECORDS = 5


def min_records(_dataset_type: str, _mode: str) -> int:
    return MIN_RECORDS


def item(item_id: str, version: int) -> str:
    return json.dumps(
        {
            "type": "item",
            "itemId": item_id,
            "changedAt": 1_767_225_600_000 + version,
            "properties": {"price": version, "genres": ["Drama"], "NUMBER_OF_RATINGS": version, "IN_STOCK": True},
        }
    )


def event(n: int) -> str:
    return json.dumps(
        {
            "type": "event",
            "userId": f"u-{n}",
            "sessionId": "s-1",
            "eventType": "click",
            "itemId": f"ev-{n}",
            "sentAt": 1_767_225_600 + n,
        }
    )


def publish(pipeline: LocalPipeline, bodies: list[str]) -> list[str]:
    ids: list[str] = []
    for start in range(0, len(bodies), 10):
        chunk = bodies[start : start + 10]
        answer = pipeline.sqs.send_message_batch(
            QueueUrl=pipeline.queues.url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(chunk)]
        )
        assert not answer.get("Failed")
        by_index = {int(ok["Id"]): ok["MessageId"] for ok in answer["Successful"]}
        ids.extend(by_index[i] for i in range(len(chunk)))
    return ids


class Faulty:
    """A client whose ``method`` runs ``fault`` (before or after the real call) the first ``times`` times."""

    def __init__(self, inner: Any, method: str, fault: Callable[[], None], *, after: bool, times: int = 1) -> None:
        self._inner, self._method, self._fault, self._after, self._left = inner, method, fault, after, times

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._inner, name)
        if name != self._method:
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._left and not self._after:
                self._left -= 1
                self._fault()
            answer = real(*args, **kwargs)
            if self._left and self._after:
                self._left -= 1
                self._fault()
            return answer

        return call


def crash() -> None:
    raise RuntimeError("the invocation died here")


_WORLDS: list[SpillWorld] = []


@pytest.fixture
def pipeline() -> Iterator[LocalPipeline]:
    config = EmulatorConfig(create_delay=0.01, delete_delay=0.01)
    with LocalPipeline(kinds=("item", "event"), emulator_config=config, visibility_timeout_s=6) as local:
        yield local
        while _WORLDS:
            _WORLDS.pop().close()


def world(pipeline: LocalPipeline, *, faulty: tuple[str, str, Callable[[], None], bool] | None = None) -> SpillWorld:
    """The spill over ``pipeline``; ``faulty`` (client, method, fault, after) makes one call fail once, across
    every step invocation."""
    drain = DrainSettings(cut_ms=0, visibility_seconds=3, chunk_messages=20, wait_seconds=1, reserve_seconds=0)
    wrapped: dict[str, Any] = {}

    def wrap(name: str, client: Any) -> Any:
        if faulty is None or name != faulty[0]:
            return client
        if name not in wrapped:
            wrapped[name] = Faulty(client, faulty[1], faulty[2], after=faulty[3])
        return wrapped[name]

    spill = SpillWorld(pipeline, drain=drain, min_records=min_records, wrap=wrap)
    _WORLDS.append(spill)
    return spill


def items_stored(pipeline: LocalPipeline) -> dict[str, int]:
    records = pipeline.emulator.state.records(pipeline.provisioned.datasets["item"])
    return {
        r["itemId"]: json.loads(r["properties"])["numberOfRatings"]
        if isinstance(r["properties"], str)
        else r["properties"]["numberOfRatings"]
        for r in records
    }


def events_stored(pipeline: LocalPipeline) -> list[str]:
    return sorted(r["itemId"] for r in pipeline.emulator.state.records(pipeline.provisioned.datasets["event"]))


def backlog(pipeline: LocalPipeline) -> tuple[dict[str, int], list[str]]:
    """30 items changed three times each (the newest published first for a third of them), 12 events, poison."""
    bodies, newest = [], {}
    for version in range(3):
        for n in range(30):
            # Items 0-9 get their versions in reverse publish order: changedAt, not the queue, says which is newest.
            v = 2 - version if n < 10 else version
            bodies.append(item(f"sku-{n:02d}", v))
            newest[f"sku-{n:02d}"] = 2
    bodies += [event(n) for n in range(12)]
    bodies += ['{"type": "item", "itemId": "null"}', "not json", '{"type": "user", "userId": "u-1"}']
    publish(pipeline, bodies)
    return newest, [f"ev-{n}" for n in range(12)]


def test_spill_end_to_end(pipeline: LocalPipeline) -> None:
    newest, events = backlog(pipeline)
    spill = world(pipeline)
    execution = spill.spill()
    assert execution.status == "SUCCEEDED", execution.errors
    assert execution.visited[:4] == ["Pause", "CheckQuiet", "IsQuiet", "Drain"]
    spill.finish_stream()
    assert items_stored(pipeline) == newest
    assert events_stored(pipeline) == sorted(events)
    letters = pipeline.dead_letters()
    assert sorted(letter[ERROR_CODE_ATTRIBUTE] for letter in letters) == sorted(
        [ErrorCode.MALFORMED_MESSAGE, ErrorCode.MALFORMED_MESSAGE, ErrorCode.DATASET_NOT_CONFIGURED]
    )
    assert {letter["body"] for letter in letters} >= {"not json", '{"type": "user", "userId": "u-1"}'}
    assert all(letter[ORIGIN_MESSAGE_ID_ATTRIBUTE] for letter in letters)
    assert pipeline.queue_depth() == 0
    assert spill.mapping.get_event_source_mapping(UUID=spill.mapping.uuid)["State"] == "Enabled"
    # Everything came through the import: the stream had nothing left to send.
    assert sum(s.messages_received for s in spill.mapping.summaries) == 0
    drained = execution.output["drained"]
    assert drained["written"] + drained["superseded"] + drained["dead_lettered"] == 90 + 12 + 3
    assert any('"SpillsFinished"' in line for line in spill.metrics)


def test_crash_after_a_part_is_written_before_its_messages_are_deleted(pipeline: LocalPipeline) -> None:
    newest, events = backlog(pipeline)
    spill = world(pipeline, faulty=("sqs", "delete_message_batch", crash, False))
    execution = spill.spill()
    assert execution.status == "SUCCEEDED", execution.errors
    assert any("Drain: RuntimeError" in error for error in execution.errors)
    spill.finish_stream()
    assert items_stored(pipeline) == newest
    # Written once although its chunk was drained twice: the index names its messages, which are deleted on sight.
    assert events_stored(pipeline) == sorted(events)
    assert pipeline.queue_depth() == 0
    assert execution.output["drained"]["resettled"] > 0


def test_crash_after_the_import_job_was_started(pipeline: LocalPipeline) -> None:
    newest, events = backlog(pipeline)
    spill = world(pipeline, faulty=("personalize", "create_dataset_import_job", crash, True))
    execution = spill.spill()
    assert execution.status == "SUCCEEDED", execution.errors
    assert any("Import: RuntimeError" in error for error in execution.errors)
    for dataset in pipeline.provisioned.datasets.values():
        names = [
            j["jobName"] for j in pipeline.personalize.list_dataset_import_jobs(datasetArn=dataset)["datasetImportJobs"]
        ]
        # One job per folder: the retried step found it by name instead of creating a second (no "-r2").
        assert names == [names[0].removesuffix("-r2")], names
        assert len(names) == 1
    spill.finish_stream()
    assert items_stored(pipeline) == newest
    assert events_stored(pipeline) == sorted(events)


def test_messages_arriving_during_a_spill_are_written_after_it_in_order(pipeline: LocalPipeline) -> None:
    newest, _events = backlog(pipeline)

    def publish_newer() -> None:
        publish(pipeline, [item(f"sku-{n:02d}", 7) for n in range(5)])

    spill = world(pipeline, faulty=("s3", "put_object", publish_newer, True))
    execution = spill.spill()
    assert execution.status == "SUCCEEDED", execution.errors
    # The newer changes were sent after the cut: left in the queue, not imported.
    assert pipeline.queue_depth() == 5
    assert items_stored(pipeline) == newest
    spill.finish_stream()
    assert items_stored(pipeline) == {**newest, **{f"sku-{n:02d}": 7 for n in range(5)}}
    assert pipeline.queue_depth() == 0


def test_a_failed_import_resumes_the_mapping_keeps_the_parts_and_fails(pipeline: LocalPipeline) -> None:
    backlog(pipeline)
    spill = world(pipeline)
    pipeline.emulator.configure(fail_create="spill-local-items")
    execution = spill.spill()
    assert execution.status == "FAILED"
    assert execution.visited[-2:] == ["ResumeAfterFailure", "Failed"]
    assert spill.mapping.get_event_source_mapping(UUID=spill.mapping.uuid)["State"] == "Enabled"
    assert any('"SpillsFailed"' in line for line in spill.metrics)
    keys = [
        o["Key"]
        for o in spill.s3.list_objects_v2(Bucket="spill-imports", Prefix="spill/spill-local/items/")["Contents"]
    ]
    assert any("/import-001/" in key for key in keys)
