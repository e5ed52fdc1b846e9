"""Run the emulator standalone: ``python -m local.emulator --port 4566``.

Prints the endpoint URL (alone, on one stdout line) once it listens, then serves until SIGINT or SIGTERM.
Every setting of :class:`~local.emulator.config.EmulatorConfig` has a flag (``--quota PutItems=5`` for the
request-rate quotas); ``POST /_emulator/config`` changes them while it serves.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from types import FrameType

from local.emulator.config import DEFAULT_QUOTAS, EmulatorConfig
from local.emulator.server import EmulatorServer


def _quota(text: str) -> tuple[str, float]:
    """Parse ``API=CALLS_PER_SECOND`` (``PutItems=5``), naming the known APIs when it is wrong."""
    api, separator, value = text.partition("=")
    if not separator or api not in DEFAULT_QUOTAS:
        raise argparse.ArgumentTypeError(f"expected API=CALLS_PER_SECOND with API one of {sorted(DEFAULT_QUOTAS)}")
    try:
        return api, float(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{api}: {value!r} is not a number of calls per second") from exc


def _pattern(text: str) -> re.Pattern[str]:
    """Compile a regex flag, so a broken one fails at parse time with argparse's usage message."""
    try:
        return re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a regular expression: {exc}") from exc


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    defaults = EmulatorConfig()
    parser = argparse.ArgumentParser(prog="python -m local.emulator", description="Local Amazon Personalize emulator")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: a free one)")
    parser.add_argument("--account-id", default=defaults.account_id)
    parser.add_argument("--default-region", default=defaults.default_region, help="region of unsigned requests")
    parser.add_argument("--create-delay", type=float, default=defaults.create_delay, help="seconds to ACTIVE")
    parser.add_argument("--delete-delay", type=float, default=defaults.delete_delay, help="seconds to gone")
    parser.add_argument("--fail-create", type=_pattern, default=None, help="regex: matching creates end CREATE FAILED")
    parser.add_argument("--failure-reason", default=defaults.failure_reason, help="failureReason of a failed create")
    parser.add_argument("--max-dataset-groups", type=int, default=defaults.max_dataset_groups)
    parser.add_argument("--max-schemas", type=int, default=defaults.max_schemas)
    parser.add_argument(
        "--quota",
        type=_quota,
        action="append",
        default=[],
        metavar="API=N",
        help="calls per second per dataset group for a Put* API (repeatable; default: Personalize's quotas)",
    )
    parser.add_argument("--throttle-rate", type=float, default=0.0, help="probability of an injected throttle")
    parser.add_argument("--server-error-rate", type=float, default=0.0, help="probability of an injected 5xx")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each Put* call")
    parser.add_argument("--latency-jitter", type=float, default=0.0, help="up to this many more seconds (seeded)")
    parser.add_argument("--fault-control-plane", action="store_true", help="inject faults into the control plane")
    parser.add_argument(
        "--control-throttle-code", default=defaults.control_throttle_code, help="code of a control-plane throttle"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the fault sequence")
    parser.add_argument(
        "--reject-records", type=_pattern, default=None, help="regex: Put* records whose id matches are refused"
    )
    parser.add_argument(
        "--s3-endpoint-url", default=None, help="S3 endpoint import jobs read from (e.g. moto's server on loopback)"
    )
    parser.add_argument("--import-delay", type=float, default=defaults.import_delay, help="seconds to import")
    parser.add_argument("--max-import-jobs", type=int, default=defaults.max_import_jobs)
    parser.add_argument("--min-import-interactions", type=int, default=defaults.min_import_interactions)
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """Return the settings the parsed command line asks for.

    Raises
    ------
    ValueError
        For a value :class:`EmulatorConfig` refuses (a negative delay, a rate above 1...).
    """
    return EmulatorConfig(
        account_id=args.account_id,
        default_region=args.default_region,
        create_delay=args.create_delay,
        delete_delay=args.delete_delay,
        fail_create=args.fail_create,
        failure_reason=args.failure_reason,
        max_dataset_groups=args.max_dataset_groups,
        max_schemas=args.max_schemas,
        # Flags override the defaults one API at a time, as POST /_emulator/config merges them.
        quotas={**DEFAULT_QUOTAS, **dict(args.quota)},
        throttle_rate=args.throttle_rate,
        server_error_rate=args.server_error_rate,
        latency=args.latency,
        latency_jitter=args.latency_jitter,
        fault_control_plane=args.fault_control_plane,
        control_throttle_code=args.control_throttle_code,
        seed=args.seed,
        reject_records=args.reject_records,
        s3_endpoint_url=args.s3_endpoint_url,
        import_delay=args.import_delay,
        max_import_jobs=args.max_import_jobs,
        min_import_interactions=args.min_import_interactions,
    )


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM; return the exit status (2 for settings the emulator refuses)."""
    args = parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"python -m local.emulator: error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with EmulatorServer(host=args.host, port=args.port, config=config) as server:
        print(server.endpoint_url, flush=True)
        # A timed wait, so the main thread wakes up to run the signal handler promptly.
        while not stop.wait(0.2):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
