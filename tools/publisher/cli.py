"""The ``publish`` command (``python -m tools.publisher``): JSON lines from a file or stdin to the ingest queue.

Reports by line number, what the person at the terminal has; exits 0 when every change was sent, 1 otherwise, 2
on a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import boto3

from tools.publisher.report import Problem, Unsent
from tools.publisher.sending import DEFAULT_MAX_ATTEMPTS, Publisher

__all__ = ["main"]


def _read_lines(stream: BinaryIO, line_numbers: list[int], not_json: list[Unsent]) -> Iterator[Any]:
    """Yield each non-blank line's JSON value; remember its line number, or why it is not JSON.

    Lines are decoded one by one, so one line that is not UTF-8 is reported instead of ending the run with
    the changes before it sent and the ones after it never read.
    """
    for number, raw in enumerate(stream, start=1):
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            not_json.append(Unsent(number, raw.decode("utf-8", "replace").strip(), Problem.INVALID, "not UTF-8"))
            continue
        if not text:
            continue
        try:
            value = json.loads(text)
        except ValueError as exc:
            not_json.append(Unsent(number, text, Problem.INVALID, f"not JSON: {getattr(exc, 'msg', exc)}"))
            continue
        line_numbers.append(number)
        yield value


def _parser() -> argparse.ArgumentParser:
    # The usage line names the program as it was started: the installed command, or the module.
    command = "publish" if Path(sys.argv[0]).name == "publish" else "python -m tools.publisher"
    parser = argparse.ArgumentParser(
        prog=command,
        description=(
            "Send changes (one JSON object per line) to the ingest queue. Each is checked against "
            "schemas/contract/message.schema.json first; invalid ones are reported, not sent. Exits 1 if any "
            "change could not be sent. AWS_ENDPOINT_URL_SQS points it at a local SQS."
        ),
    )
    parser.add_argument("--queue-url", required=True, help="the ingest queue's URL (a .fifo URL is a FIFO queue)")
    parser.add_argument("--region", help="the queue's region (default: from the URL, else the AWS configuration)")
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=DEFAULT_MAX_ATTEMPTS,
        help=f"attempts per change when SQS fails on its side (default {DEFAULT_MAX_ATTEMPTS})",
    )
    parser.add_argument(
        "--unsent",
        type=Path,
        help="write the changes that were not sent to this file, one JSON per line (created even when empty)",
    )
    parser.add_argument("file", nargs="?", default="-", help="JSON lines to send; '-' (default) reads stdin")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0: everything sent, 1: something was not, 2: usage)."""
    args = _parser().parse_args(argv)
    if args.max_attempts < 1:
        print("publisher: --max-attempts must be at least 1", file=sys.stderr)
        return 2
    client = boto3.client("sqs", region_name=args.region) if args.region else None
    publisher = Publisher(args.queue_url, sqs_client=client, max_attempts=args.max_attempts)
    line_numbers: list[int] = []
    not_json: list[Unsent] = []
    try:
        stream = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        print(f"publisher: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        report = publisher.publish(_read_lines(stream, line_numbers, not_json))
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    # Report line numbers, not positions among the parsed lines: that is what the person at the terminal has.
    unsent = sorted(
        [*not_json, *(_at_line(item, line_numbers[item.index]) for item in report.unsent)],
        key=lambda item: item.index,
    )
    changes = report.total + len(not_json)
    summary = f"publisher: {report.sent} of {changes} change(s) sent"
    details = [f"{report.calls} call(s)", f"{report.retries} retried"]
    if report.superseded:
        details.append(f"{report.superseded} superseded by a newer change to the same record")
    print(f"{summary}, {len(unsent)} not sent ({', '.join(details)})", file=sys.stderr)
    for item in unsent:
        print(f"line {item.index}: {item.problem}: {item.reason}", file=sys.stderr)
    if args.unsent is not None:
        raw_lines = {item.index for item in not_json}
        with open(args.unsent, "w", encoding="utf-8") as out:
            for item in unsent:
                # A line that is not JSON is written back as it was, for someone to repair by hand.
                out.write((item.change if item.index in raw_lines else json.dumps(item.change)) + "\n")
    return 1 if unsent else 0


def _at_line(unsent: Unsent, line: int) -> Unsent:
    return Unsent(line, unsent.change, unsent.problem, unsent.reason)
