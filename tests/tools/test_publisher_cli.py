"""The publisher's command line: JSON lines from a file or stdin, unsent changes reported by line, exit status.

In-process against moto (``mock_aws``), and as a subprocess (``python -m tools.publisher`` and the installed
``publish`` command) against moto's server, the way a publisher's shell would run it.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.sqs_server import SqsServer, make_sqs_client
from tests.support.sqs_events import event, item, user
from tests.tools.publisher_support import AWS_ENV, REGION, create_standard_queue, drain, mocked_sqs
from tools import publisher

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from mocked_sqs(monkeypatch)


@pytest.fixture
def queue_url(sqs: Any) -> str:
    return create_standard_queue(sqs)


def write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_cli_file_all_valid_sends_everything_and_exits_zero(
    sqs: Any, queue_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changes = write_lines(tmp_path / "changes.jsonl", [item(f"sku-{n}") for n in range(12)] + [""])

    status = publisher.main(["--queue-url", queue_url, str(changes)])

    assert status == 0
    assert "12 of 12 change(s) sent, 0 not sent (2 call(s), 0 retried)" in capsys.readouterr().err
    assert len(drain(sqs, queue_url)) == 12


def test_cli_stdin_reports_unsent_lines_writes_them_and_exits_nonzero(
    sqs: Any, queue_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [json.dumps(item("sku-1")), "{not json", "", json.dumps({"type": "item"}), json.dumps(user("u-1"))]
    stdin = b"".join(line.encode() + b"\n" for line in lines) + b'{"type": "user", "userId": "\xff"}\n'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    unsent_path = tmp_path / "unsent.jsonl"

    status = publisher.main(["--queue-url", queue_url, "--unsent", str(unsent_path), "-"])

    err = capsys.readouterr().err
    assert status == 1
    assert "2 of 5 change(s) sent, 3 not sent" in err
    assert "line 2: Invalid: not JSON: Expecting property name enclosed in double quotes" in err
    assert "line 4: Invalid: message: 'itemId' is a required property" in err
    assert "line 6: Invalid: not UTF-8" in err
    assert unsent_path.read_text().splitlines() == [
        "{not json",
        '{"type": "item"}',
        '{"type": "user", "userId": "\ufffd"}',
    ]
    assert len(drain(sqs, queue_url)) == 2


def test_cli_missing_file_exits_two(sqs: Any, queue_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert publisher.main(["--queue-url", queue_url, "/nonexistent/changes.jsonl"]) == 2
    assert "cannot read /nonexistent/changes.jsonl" in capsys.readouterr().err


def test_cli_as_module_against_sqs_server_publishes_to_fifo_queue(tmp_path: Path) -> None:
    changes = write_lines(tmp_path / "changes.jsonl", [item("sku-1"), event("s-1", "u-1", "sku-1"), {"type": "x"}])
    with SqsServer(port=0) as server:
        env = {**os.environ, **AWS_ENV, "AWS_ENDPOINT_URL_SQS": server.endpoint_url}
        sqs = make_sqs_client(server.endpoint_url, region_name=REGION)
        url = sqs.create_queue(QueueName="cli-ingest.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]

        result = subprocess.run(
            [sys.executable, "-m", "tools.publisher", "--queue-url", url, str(changes)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

        assert result.returncode == 1, result.stderr
        assert "2 of 3 change(s) sent, 1 not sent" in result.stderr
        assert "line 3: Invalid: type: must be one of" in result.stderr
        groups = {m["Attributes"]["MessageGroupId"] for m in drain(sqs, url)}
        assert groups == {"item#sku-1", "s-1"}


def test_cli_publish_command_reads_stdin_from_any_directory_against_sqs_server(tmp_path: Path) -> None:
    # GIVEN the `publish` command `make install` put in the virtualenv (pyproject.toml, [project.scripts]),
    # started from a directory that is not the checkout and without PYTHONPATH: it must find its package and the
    # contract schema by itself
    command = Path(sys.prefix) / "bin" / "publish"
    assert command.is_file(), f"{command} is missing: run `make install` (pip install -e .)"
    lines = [json.dumps(item("sku-1")), json.dumps(user("u-1")), json.dumps({"type": "item", "itemId": "null"})]
    with SqsServer(port=0) as server:
        env = {name: value for name, value in os.environ.items() if name not in {"PYTHONPATH", "AWS_ENDPOINT_URL"}}
        env.update({**AWS_ENV, "AWS_ENDPOINT_URL_SQS": server.endpoint_url})
        sqs = make_sqs_client(server.endpoint_url, region_name=REGION)
        url = sqs.create_queue(QueueName="cli-command")["QueueUrl"]

        # WHEN it reads JSON lines from stdin
        result = subprocess.run(
            [str(command), "--queue-url", url],
            input="\n".join(lines) + "\n",
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

        # THEN the valid changes are in the queue, the invalid one is reported by the contract, and it exits 1
        assert result.returncode == 1, result.stderr
        assert "2 of 3 change(s) sent, 1 not sent" in result.stderr
        assert 'line 3: Invalid: itemId: must be an id (1..256 characters, not blank, "null" or "undefined")' in (
            result.stderr
        )
        assert sorted(json.loads(m["Body"])["type"] for m in drain(sqs, url)) == ["item", "user"]


def test_cli_publish_command_usage_names_the_command() -> None:
    result = subprocess.run(
        [str(Path(sys.prefix) / "bin" / "publish"), "--help"], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0
    assert result.stdout.startswith("usage: publish ")
