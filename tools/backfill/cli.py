"""The ``backfill`` command line: arguments, clients, one-line errors, exit statuses (see :mod:`tools.backfill`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from bulk.targets import Destination
from contract import KIND_SPECS, KINDS_BY_CONFIG_KEY
from tools.aws_errors import command_failure
from tools.backfill.errors import EXIT_BAD_INPUT, BackfillError
from tools.backfill.inputs import CHANGES, InputSpec
from tools.backfill.jobs import AUTO, MODES
from tools.backfill.run import (
    DEFAULT_MAX_PART_BYTES,
    DEFAULT_POLL_SECONDS,
    DEFAULT_PROGRESS_EVERY,
    Options,
    run_backfill,
)
from tools.backfill.targets import from_outputs, stack_outputs

# Standard retries (throttling included) for the control-plane calls and uploads.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return its exit status (0 imported, 1 rejects or a failed job, 2 bad input,
    3 ``--no-wait`` left parts to start: run it again)."""
    args = build_parser().parse_args(argv)
    session = boto3.session.Session(region_name=args.region)
    try:
        options = options_from_args(args, session)
        report = run_backfill(
            options,
            personalize=session.client("personalize", config=CLIENT_CONFIG),
            s3=session.client("s3", config=CLIENT_CONFIG),
            progress=_progress,
        )
    except BackfillError as error:
        return _fail(str(error))
    except (ClientError, BotoCoreError) as error:
        return _fail(command_failure(error))
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.render())
    return report.exit_status


def _fail(message: str) -> int:
    print(f"backfill: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _progress(line: str) -> None:
    print(f"backfill: {line}", file=sys.stderr, flush=True)


def kind_name(text: str) -> str:
    """A kind as the command line may name it: ``item``, ``items`` or ``ITEMS`` → ``item``.

    Raises
    ------
    argparse.ArgumentTypeError
        It names no kind.
    """
    for spec in KIND_SPECS.values():
        if text in (spec.name, spec.config_key) or text.upper() == spec.dataset_type:
            return spec.name
    if text in KINDS_BY_CONFIG_KEY:
        return KINDS_BY_CONFIG_KEY[text].name
    names = ", ".join(spec.config_key for spec in KIND_SPECS.values())
    raise argparse.ArgumentTypeError(f"{text!r} is not a dataset kind ({names})")


def _pair(text: str) -> tuple[str, str]:
    kind, separator, value = text.partition("=")
    if not separator or not value:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KIND=VALUE")
    return kind_name(kind), value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    parser = argparse.ArgumentParser(
        prog="backfill",
        description="Load files of changes (JSON Lines, as published to the ingest queue) or Personalize-format CSV "
        "into Amazon Personalize with dataset import jobs, validated as the ingest Lambda validates them.",
    )
    parser.add_argument("inputs", nargs="*", metavar="FILE", help="JSON Lines of changes: a path or s3://bucket/key")
    parser.add_argument(
        "--csv", type=_pair, action="append", default=[], metavar="KIND=FILE", help="Personalize-format CSV for a kind"
    )
    where = parser.add_argument_group("where to")
    where.add_argument("--stack", help="the deployed stack: its datasets, import bucket and role (outputs)")
    where.add_argument("--dataset", type=_pair, action="append", default=[], metavar="KIND=ARN")
    where.add_argument("--import-location", metavar="s3://BUCKET/PREFIX/", help="instead of the stack's bucket")
    where.add_argument("--role-arn", help="the role Personalize reads the bucket with (instead of the stack's)")
    where.add_argument("--region")
    how = parser.add_argument_group("how")
    how.add_argument("--mode", choices=MODES, default=AUTO, help="FULL on a first import (auto), or as asked")
    how.add_argument("--rejects", type=Path, default=Path("backfill-rejects.jsonl"), metavar="PATH")
    how.add_argument("--no-wait", action="store_true", help="start the jobs and exit")
    how.add_argument("--dry-run", action="store_true", help="validate and count; upload nothing")
    how.add_argument("--json", action="store_true", help="the summary as JSON on stdout")
    how.add_argument("--max-part-bytes", type=_positive_int, default=DEFAULT_MAX_PART_BYTES, metavar="N")
    how.add_argument("--poll-seconds", type=float, default=DEFAULT_POLL_SECONDS, metavar="S")
    how.add_argument("--progress-every", type=_positive_int, default=DEFAULT_PROGRESS_EVERY, metavar="N")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def options_from_args(args: argparse.Namespace, session: Any) -> Options:
    """Turn the arguments (and the stack's outputs, with ``--stack``) into the run's options."""
    if not args.inputs and not args.csv:
        raise BackfillError("nothing to load: name JSON Lines files, or --csv KIND=FILE")
    if args.max_part_bytes > DEFAULT_MAX_PART_BYTES:
        raise BackfillError(f"--max-part-bytes: at most {DEFAULT_MAX_PART_BYTES} (an INCREMENTAL job's limit)")
    datasets: dict[str, str] = {}
    destination = None
    if args.stack:
        datasets, destination = from_outputs(
            stack_outputs(session.client("cloudformation", config=CLIENT_CONFIG), args.stack), args.stack
        )
    datasets.update(dict(args.dataset))
    if args.import_location:
        role_arn = args.role_arn or (destination.role_arn if destination is not None else None)
        destination = Destination.parse(args.import_location, role_arn)
    elif destination is not None and args.role_arn:
        destination = Destination(destination.bucket, destination.prefix, args.role_arn)
    inputs = [InputSpec(location, CHANGES) for location in args.inputs]
    inputs += [InputSpec(location, kind) for kind, location in args.csv]
    return Options(
        inputs=inputs,
        datasets=datasets,
        destination=destination,
        rejects_path=args.rejects,
        mode=args.mode,
        wait=not args.no_wait,
        dry_run=args.dry_run,
        max_part_bytes=args.max_part_bytes,
        poll_seconds=args.poll_seconds,
        progress_every=args.progress_every,
    )
