"""Run the emulator standalone: ``python -m local.emulator --port 4566``.

Prints the endpoint URL (alone, on one stdout line) once it listens, then serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from types import FrameType

from local.emulator.config import EmulatorConfig
from local.emulator.server import EmulatorServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    defaults = EmulatorConfig()
    parser = argparse.ArgumentParser(prog="python -m local.emulator", description="Local Amazon Personalize emulator")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: a free one)")
    parser.add_argument("--account-id", default=defaults.account_id)
    parser.add_argument("--create-delay", type=float, default=defaults.create_delay, help="seconds to ACTIVE")
    parser.add_argument("--delete-delay", type=float, default=defaults.delete_delay, help="seconds to gone")
    parser.add_argument("--fail-create", default=None, help="regex: creates of matching names end in CREATE FAILED")
    parser.add_argument("--max-dataset-groups", type=int, default=defaults.max_dataset_groups)
    parser.add_argument("--throttle-rate", type=float, default=0.0, help="probability of an injected throttle")
    parser.add_argument("--server-error-rate", type=float, default=0.0, help="probability of an injected 5xx")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each Put* call")
    parser.add_argument("--fault-control-plane", action="store_true", help="inject faults into the control plane")
    parser.add_argument("--seed", type=int, default=None, help="seed of the fault sequence")
    parser.add_argument(
        "--reject-records", default=None, help="regex: Put* records whose id matches are refused (InvalidInput)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM; return the exit status."""
    args = parse_args(argv)
    config = EmulatorConfig(
        account_id=args.account_id,
        create_delay=args.create_delay,
        delete_delay=args.delete_delay,
        fail_create=re.compile(args.fail_create) if args.fail_create else None,
        max_dataset_groups=args.max_dataset_groups,
        throttle_rate=args.throttle_rate,
        server_error_rate=args.server_error_rate,
        latency=args.latency,
        fault_control_plane=args.fault_control_plane,
        seed=args.seed,
        reject_records=re.compile(args.reject_records) if args.reject_records else None,
    )
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
