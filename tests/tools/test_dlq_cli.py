"""The ``python -m tools.dlq`` command line: usage errors (exit 2, nothing moved), refusals (exit 1), and where the
clients point (region, endpoint, credentials)."""

from __future__ import annotations

from typing import Any

import pytest

from local.sqs_server import QueuePair
from tests.tools.dlq_support import ITEM, counts, dead_letter
from tools.dlq.cli import main, region_of_queue_url


def test_redrive_cli_target_queue_missing_deletes_nothing_exits_one(
    sqs: Any, sqs_endpoint: str, queues: QueuePair, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_letter(sqs, queues.dlq_url, ITEM)
    missing = queues.url + "-gone"

    code = main(
        [
            "redrive",
            *("--dlq-url", queues.dlq_url, "--queue-url", missing, "--endpoint-url", sqs_endpoint),
            *("--method", "copy", "--wait-seconds", "0"),
        ]
    )

    assert code == 1
    assert "NOT copied, still in the DLQ" in capsys.readouterr().out
    assert counts(sqs, queues.dlq_url) == (1, 0)


@pytest.mark.parametrize(
    "argv",
    [
        ["redrive", "--codes", "SchemaViolaton"],
        ["replay", "--tracking-id", "item=x"],
    ],
    ids=["unknown-code", "tracking-id-for-item"],
)
def test_cli_bad_argument_is_usage_error(queues: QueuePair, argv: list[str]) -> None:
    command, *flags = argv

    with pytest.raises(SystemExit) as exit_info:
        main([command, "--dlq-url", queues.dlq_url, "--queue-url", queues.url, *flags])

    assert exit_info.value.code == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["redrive", "--method", "move-task", "--codes", "RetriesExhausted"], "cannot be combined with --codes"),
        (["redrive", "--method", "move-task", "--limit", "5"], "cannot be combined with --codes or --limit"),
        (["replay", "--codes", "MalformedMessage,SchemaViolation"], "not MalformedMessage: use redrive"),
        (["redrive", "--same-queue"], "round in circles"),
        (["replay", "--same-queue"], "round in circles"),
    ],
)
def test_cli_impossible_combination_is_usage_error_exit_two_nothing_moved(
    sqs: Any, queues: QueuePair, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    dead_letter(sqs, queues.dlq_url, ITEM, "RetriesExhausted")
    command, *flags = argv
    target = queues.dlq_url if flags == ["--same-queue"] else queues.url
    flags = [] if flags == ["--same-queue"] else flags

    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                command,
                "--dlq-url",
                queues.dlq_url,
                "--queue-url",
                target,
                "--endpoint-url",
                sqs.meta.endpoint_url,
                *flags,
            ]
        )

    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert (counts(sqs, queues.url), counts(sqs, queues.dlq_url)) == ((0, 0), (1, 0))


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://sqs.eu-west-1.amazonaws.com/111122223333/ingest-dlq", "eu-west-1"),
        ("https://sqs.cn-north-1.amazonaws.com.cn/111122223333/ingest-dlq", "cn-north-1"),
        ("https://us-east-2.queue.amazonaws.com/111122223333/ingest-dlq", "us-east-2"),
        ("http://127.0.0.1:9324/000000000000/ingest-dlq", None),
    ],
)
def test_region_of_queue_url_aws_url_names_region_local_url_none(url: str, region: str | None) -> None:
    assert region_of_queue_url(url) == region


@pytest.mark.parametrize(
    ("unset", "hint"),
    [
        # A local queue URL names no region, and neither the flags nor the environment give one.
        (("AWS_DEFAULT_REGION",), "no AWS region: pass --region"),
        (("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), "no AWS credentials"),
    ],
    ids=["no-region", "no-credentials"],
)
def test_cli_without_region_or_credentials_exits_one_with_hint(
    *,
    sqs_endpoint: str,
    queues: QueuePair,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    unset: tuple[str, ...],
    hint: str,
) -> None:
    for name in unset:
        monkeypatch.delenv(name)

    code = main(["inspect", "--dlq-url", queues.dlq_url, "--endpoint-url", sqs_endpoint, "--wait-seconds", "0"])

    assert code == 1
    assert hint in capsys.readouterr().err
