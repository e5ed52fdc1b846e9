"""The ``python -m tools.dlq`` command line: arguments, clients, exit statuses (see :mod:`tools.dlq`)."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from contract import KIND_SPECS
from ingest.catalog import DatasetCatalog
from tools.aws_errors import command_failure
from tools.dlq.copier import DEFAULT_MAX_PER_SECOND
from tools.dlq.errors import EXIT_FAILED, SAME_QUEUE, DlqToolError
from tools.dlq.inspect import inspect
from tools.dlq.messages import KNOWN_CODES, REDRIVE_POLICY, REDRIVE_POLICY_MEANING, REPLAYABLE
from tools.dlq.redrive import MOVE_TASK_MOVES_ALL, Method, redrive
from tools.dlq.render import print_progress, render_inspect, render_move
from tools.dlq.replay import Revalidator, not_replayable, replay, replay_settings
from tools.dlq.report import DEFAULT_SAMPLES, MoveReport
from tools.dlq.scan import DEFAULT_HOLD_SECONDS, DEFAULT_WAIT_SECONDS
from tools.dlq.sqs import CLIENT_CONFIG, MAX_VISIBILITY_TIMEOUT

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# https://sqs.REGION.amazonaws.com/ACCOUNT/NAME (also .amazonaws.com.cn), and the legacy REGION.queue.amazonaws.com.
_QUEUE_URL_REGION: Final = re.compile(
    r"^https?://(?:sqs\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?|(?P<legacy>[a-z0-9-]+)\.queue\.amazonaws\.com)/"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; its exit status.

    ``EXIT_OK`` (0) when everything selected was handled; ``EXIT_FAILED`` (1) when something failed or the run
    could not start; ``EXIT_USAGE`` (2) on a usage error (argparse); ``EXIT_UNFINISHED`` (3) when nothing failed
    but the run did not reach everything (see :attr:`tools.dlq.report.MoveReport.unfinished`): run it again.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_usage(parser, args)
    # The queue's own region first: a client of another region cannot reach it. A local stand-in's URL names none.
    session = boto3.session.Session(region_name=args.region or region_of_queue_url(args.dlq_url))
    try:
        sqs: SQSClient = session.client("sqs", endpoint_url=args.endpoint_url, config=CLIENT_CONFIG)
        if args.command == "inspect":
            return _inspect(sqs, args)
        report = _redrive(sqs, args) if args.command == "redrive" else _replay(sqs, session, args)
    except DlqToolError as error:
        return _fail(str(error))
    except (ClientError, BotoCoreError) as error:
        return _fail(command_failure(error))
    print(json.dumps(report.to_dict(), indent=2) if args.json else render_move(report, command=args.command))
    return report.exit_status


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_FAILED


def _inspect(sqs: SQSClient, args: argparse.Namespace) -> int:
    report = inspect(
        sqs=sqs,
        dlq_url=args.dlq_url,
        samples=args.samples,
        show_bodies=args.show_bodies,
        limit=args.limit,
        hold_seconds=args.hold_seconds,
        wait_seconds=args.wait_seconds,
    )
    print(json.dumps(report.to_dict(), indent=2) if args.json else render_inspect(report))
    return report.exit_status


def _redrive(sqs: SQSClient, args: argparse.Namespace) -> MoveReport:
    return redrive(
        sqs=sqs,
        dlq_url=args.dlq_url,
        queue_url=args.queue_url,
        codes=args.codes,
        method=args.method,
        dry_run=args.dry_run,
        max_per_second=args.max_per_second,
        limit=args.limit,
        wait=args.wait,
        hold_seconds=args.hold_seconds,
        wait_seconds=args.wait_seconds,
        progress=print_progress,
    )


def _replay(sqs: SQSClient, session: boto3.session.Session, args: argparse.Namespace) -> MoveReport:
    environment: Mapping[str, str] = (
        function_environment(session.client("lambda", config=CLIENT_CONFIG), args.function_name)
        if args.function_name
        else os.environ
    )
    settings = replay_settings(
        dlq_url=args.dlq_url,
        dataset_arns=dict(args.dataset_arn),
        tracking_ids=dict(args.tracking_id),
        env=environment,
    )
    personalize = session.client("personalize", endpoint_url=args.personalize_endpoint_url, config=CLIENT_CONFIG)
    return replay(
        sqs=sqs,
        dlq_url=args.dlq_url,
        queue_url=args.queue_url,
        revalidator=Revalidator(settings=settings, catalog=DatasetCatalog(client=personalize)),
        codes=args.codes,
        dry_run=args.dry_run,
        max_per_second=args.max_per_second,
        limit=args.limit,
        samples=args.samples,
        hold_seconds=args.hold_seconds,
        wait_seconds=args.wait_seconds,
    )


def _check_usage(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, with exit status 2 (``parser.error``), combinations no run could carry out, before any AWS call.

    The library functions refuse them too (DlqToolError), for callers that skip the command line.
    """
    if args.command == "inspect":
        return
    if args.dlq_url.rstrip("/") == args.queue_url.rstrip("/"):
        parser.error(SAME_QUEUE)
    if args.command == "redrive":
        if args.method is Method.MOVE_TASK and (args.codes is not None or args.limit is not None):
            parser.error(MOVE_TASK_MOVES_ALL)
        return
    refusal = not_replayable(args.codes)
    if refusal:
        parser.error(refusal)
    if any(KIND_SPECS[kind].target_field != "trackingId" for kind, _ in args.tracking_id):
        parser.error("--tracking-id applies to event and actionInteraction only")


def region_of_queue_url(queue_url: str) -> str | None:
    """The region an AWS queue URL names (``https://sqs.eu-west-1.amazonaws.com/...``); None for any other URL."""
    match = _QUEUE_URL_REGION.match(queue_url)
    return (match["region"] or match["legacy"]) if match else None


def function_environment(lambda_client: Any, function_name: str) -> dict[str, str]:
    """The environment variables the deployed ingest function runs with (docs/contracts.md §2):
    GetFunctionConfiguration.

    Raises
    ------
    DlqToolError
        Lambda cannot show the variables (their KMS key refused), or the function has no dataset variable: it is
        not the ingest function.
    """
    environment = lambda_client.get_function_configuration(FunctionName=function_name).get("Environment") or {}
    if "Error" in environment:
        error = environment["Error"]
        raise DlqToolError(
            f"Lambda cannot show {function_name}'s environment: {error.get('ErrorCode')}: {error.get('Message')}"
        )
    variables = {str(name): str(value) for name, value in (environment.get("Variables") or {}).items()}
    if not any(kind.dataset_env in variables for kind in KIND_SPECS.values()):
        expected = ", ".join(sorted({kind.dataset_env for kind in KIND_SPECS.values()}))
        raise DlqToolError(f"{function_name} has none of {expected}: is it the ingest function (IngestFunctionName)?")
    return variables


# --- argument types ------------------------------------------------------------------------------------------------


def _codes(text: str) -> frozenset[str]:
    canonical = {code.lower(): code for code in KNOWN_CODES}
    codes = set()
    for raw in filter(None, (part.strip() for part in text.split(","))):
        if raw.lower() not in canonical:
            raise argparse.ArgumentTypeError(f"unknown error code {raw!r}; known: {', '.join(KNOWN_CODES)}")
        codes.add(canonical[raw.lower()])
    if not codes:
        raise argparse.ArgumentTypeError("give at least one error code")
    return frozenset(codes)


def _kind_value(text: str) -> tuple[str, str]:
    kind, separator, value = text.partition("=")
    if not separator or not value.strip():
        raise argparse.ArgumentTypeError(f"expected KIND=VALUE, got {text!r}")
    if kind not in KIND_SPECS:
        raise argparse.ArgumentTypeError(f"unknown kind {kind!r}; kinds: {', '.join(KIND_SPECS)}")
    return kind, value.strip()


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(text)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _hold_seconds(text: str) -> int:
    seconds = _positive_int(text)
    if seconds > MAX_VISIBILITY_TIMEOUT:
        raise argparse.ArgumentTypeError(f"SQS hides a message for at most {MAX_VISIBILITY_TIMEOUT} s, got {text}")
    return seconds


# --- the parser ----------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m tools.dlq`` command line."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.dlq",
        description="Inspect, redrive and replay the Personalize ingest pipeline's dead-letter queue.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    common, moving = _common_options(), _moving_options()
    _add_inspect(commands, common)
    _add_redrive(commands, common, moving)
    _add_replay(commands, common, moving)
    return parser


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dlq-url", required=True, help="the dead-letter queue (stack output DeadLetterQueueUrl)")
    common.add_argument("--region", help="AWS region (default: the AWS SDK's: AWS_REGION, profile...)")
    common.add_argument(
        "--endpoint-url", help="SQS endpoint, for a local stand-in (default: AWS_ENDPOINT_URL_SQS, else AWS)"
    )
    common.add_argument("--json", action="store_true", help="print the report as JSON")
    common.add_argument(
        "--hold-seconds",
        type=_hold_seconds,
        default=DEFAULT_HOLD_SECONDS,
        help="how long a read message stays hidden during the pass (default %(default)s)",
    )
    common.add_argument(
        "--wait-seconds",
        type=int,
        choices=range(21),
        default=DEFAULT_WAIT_SECONDS,
        metavar="0..20",
        help="long polling per receive (default %(default)s)",
    )
    common.add_argument("--limit", type=_positive_int, help="read (inspect) or move (redrive, replay) at most N")
    return common


def _moving_options() -> argparse.ArgumentParser:
    moving = argparse.ArgumentParser(add_help=False)
    moving.add_argument("--queue-url", required=True, help="the ingest queue (stack output IngestQueueUrl)")
    moving.add_argument("--dry-run", action="store_true", help="report what would move; send and delete nothing")
    moving.add_argument(
        "--max-per-second",
        type=_non_negative,
        default=DEFAULT_MAX_PER_SECOND,
        help="average messages moved per second; 0 for no limit (default %(default)s)",
    )
    return moving


def _add_inspect(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    inspect_cmd = commands.add_parser(
        "inspect",
        parents=[common],
        help="counts by ErrorCode and Api, oldest and newest, samples of ids and error messages",
        description="Read the DLQ once through (every message is visible again afterwards) and summarise it. "
        f"Messages without ErrorCode are shown as {REDRIVE_POLICY}: {REDRIVE_POLICY_MEANING}. A message's Api is "
        "the one it failed in (its Api attribute) or, when it failed before a call, the one its kind is written "
        "with. Samples show record ids and error messages; bodies (property values) only with --show-bodies.",
    )
    inspect_cmd.add_argument(
        "--samples", type=_non_negative_int, default=DEFAULT_SAMPLES, help="examples per code (default %(default)s)"
    )
    inspect_cmd.add_argument(
        "--show-bodies", action="store_true", help="include the samples' bodies (property values: personal data?)"
    )


def _add_redrive(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    moving: argparse.ArgumentParser,
) -> None:
    redrive_cmd = commands.add_parser(
        "redrive",
        parents=[common, moving],
        help="move messages back to the ingest queue, all or those of given codes",
        description="Move messages back to the ingest queue. Without --codes or --limit, the tool first reads the "
        "DLQ: when every message carries PersonalizeIngest.SourceMessageId, SQS's StartMessageMoveTask moves them, at "
        "--max-per-second "
        "(falling back to copying when SQS refuses). A move task gives each message a new message id, so when a "
        f"message has none ({REDRIVE_POLICY}: the redrive policy moved it), the tool copies instead "
        "and says so. Otherwise each message is copied (body unchanged, the ErrorCode/ErrorMessage/Api attributes "
        "dropped, PersonalizeIngest.SourceMessageId kept, or set to the message's own id when the redrive policy "
        "moved it) and "
        "deleted from the DLQ only after the copy is confirmed. Messages not selected stay in the DLQ, visible "
        "again at the end.",
    )
    redrive_cmd.add_argument(
        "--codes",
        type=_codes,
        help=f"comma-separated ErrorCodes to move ({', '.join(KNOWN_CODES)}); default: every message",
    )
    redrive_cmd.add_argument(
        "--method",
        type=Method,
        choices=list(Method),
        default=Method.AUTO,
        help="auto: a move task when it is safe, else copy; move-task: a move task without checking "
        "PersonalizeIngest.SourceMessageId (every message, no --codes or --limit); copy: always copy (default "
        "%(default)s)",
    )
    redrive_cmd.add_argument("--wait", action="store_true", help="after starting a move task, wait until it is done")


def _add_replay(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    moving: argparse.ArgumentParser,
) -> None:
    replay_cmd = commands.add_parser(
        "replay",
        parents=[common, moving],
        help="re-validate validation failures against today's schema; send back those that pass",
        description="For messages dead-lettered as " + ", ".join(REPLAYABLE) + ": validate each again with the "
        "ingest Lambda's own code against the schema Personalize holds now (DescribeDataset, DescribeSchema) and "
        "send back only those that pass. The rest stay in the DLQ untouched. Dataset ARNs and tracking ids come "
        "from --dataset-arn / --tracking-id, else from the ingest function's environment (--function-name), else "
        "from this shell's (ITEMS_DATASET_ARN, EVENT_TRACKING_ID, ...). InvalidInput records passed these checks "
        "before Personalize refused them: they pass again, and Personalize is the judge; one it still refuses "
        "comes back to the DLQ as InvalidInput.",
    )
    replay_cmd.add_argument("--codes", type=_codes, help=f"a subset of {', '.join(REPLAYABLE)} (default: all three)")
    replay_cmd.add_argument(
        "--function-name",
        help="the ingest Lambda (stack output IngestFunctionName): validate for the datasets and trackers in its "
        "environment (lambda:GetFunctionConfiguration); default: this shell's environment",
    )
    replay_cmd.add_argument(
        "--dataset-arn",
        type=_kind_value,
        action="append",
        default=[],
        metavar="KIND=ARN",
        help=f"the dataset of a kind ({', '.join(KIND_SPECS)}), over the function's; repeatable",
    )
    replay_cmd.add_argument(
        "--tracking-id",
        type=_kind_value,
        action="append",
        default=[],
        metavar="KIND=ID",
        help="the event tracker of event / actionInteraction; repeatable",
    )
    replay_cmd.add_argument(
        "--personalize-endpoint-url",
        help="Personalize endpoint, for a local stand-in (default: AWS_ENDPOINT_URL_PERSONALIZE, else AWS)",
    )
    replay_cmd.add_argument(
        "--samples", type=_non_negative_int, default=DEFAULT_SAMPLES, help="still-failing messages listed"
    )
