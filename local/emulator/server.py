"""The HTTP front: both Personalize wire protocols, and the inspection routes, on one loopback port.

- ``personalize`` (awsJson1.1): ``POST /`` with ``X-Amz-Target: AmazonPersonalize.<Op>``; errors are
  ``{"__type": "...#Code", "message": ...}``.
- ``personalize-events`` (restJson1): ``POST /items`` ...; errors carry ``x-amzn-ErrorType`` and
  ``{"message": ...}``; success is 200 with an empty body.
- ``/_emulator/...``: see :mod:`local.emulator.admin`.

The region is read from the SigV4 credential scope of the ``Authorization`` header; signatures are not
checked (any dummy credentials work).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local.emulator import admin, errors
from local.emulator.config import EmulatorConfig
from local.emulator.errors import ServiceError
from local.emulator.service import Emulator
from local.emulator.state import EmulatorState

logger = logging.getLogger(__name__)

# "Credential=AKID/20250101/us-east-1/personalize/aws4_request"
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/[^/,\s]+/aws4_request")
JSON_1_1 = "application/x-amz-json-1.1"
CONTROL_ERROR_NAMESPACE = "com.amazonaws.personalize#"


class _HTTPServer(ThreadingHTTPServer):
    """A threading server that knows its emulator; request threads never block shutdown."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    """Routes one request to the control plane, the data plane or the inspection routes."""

    # Keep-alive, as botocore's connection pool expects; every response carries Content-Length.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm and the client's
    # delayed ACK hold the body back ~40 ms on every call of a kept-alive connection.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def do_GET(self) -> None:
        """Handle GET."""
        self._dispatch("GET")

    def do_POST(self) -> None:
        """Handle POST."""
        self._dispatch("POST")

    def do_PUT(self) -> None:
        """Handle PUT (no operation uses it: answered as unknown)."""
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        """Handle DELETE (no operation uses it: answered as unknown)."""
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        """Send the access log to ``logging`` instead of stderr."""
        logger.debug("%s " + format, self.address_string(), *args)

    def _dispatch(self, method: str) -> None:
        """Read the request and answer it."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        emulator = self.server.emulator
        if url.path.startswith(admin.PREFIX):
            try:
                status, payload = admin.handle(emulator, method, url.path, parse_qs(url.query), body)
            except Exception:
                logger.exception("emulator bug in %s %s", method, url.path)
                status, payload = 500, {"message": "emulator bug"}
            self._send(status, json.dumps(payload).encode(), "application/json")
            return
        region = self._region(emulator.config)
        target = self.headers.get("X-Amz-Target")
        if url.path == "/" and method == "POST" and target is not None:
            self._control(emulator, target, body, region)
        else:
            self._events(emulator, method, url.path, body, region)

    def _control(self, emulator: Emulator, target: str, body: bytes, region: str) -> None:
        """Answer an awsJson1.1 control-plane call."""
        try:
            response = emulator.call_control(target, body, region)
        except ServiceError as exc:
            payload = {"__type": CONTROL_ERROR_NAMESPACE + exc.code, "message": exc.message}
            headers = {"x-amzn-ErrorType": exc.code}
            self._send(exc.control_status(), json.dumps(payload).encode(), JSON_1_1, headers)
            return
        except Exception:
            logger.exception("emulator bug in %s", target)
            self._send(500, json.dumps({"__type": errors.INTERNAL_FAILURE, "message": "emulator bug"}).encode())
            return
        self._send(200, json.dumps(response).encode(), JSON_1_1)

    def _events(self, emulator: Emulator, method: str, path: str, body: bytes, region: str) -> None:
        """Answer a restJson1 data-plane call."""
        try:
            emulator.call_events(method, path, body, region)
        except ServiceError as exc:
            payload = json.dumps({"message": exc.message}).encode()
            self._send(exc.events_status(), payload, "application/json", {"x-amzn-ErrorType": exc.code})
            return
        except Exception:
            logger.exception("emulator bug in %s %s", method, path)
            self._send(500, b'{"message": "emulator bug"}', "application/json", {"x-amzn-ErrorType": "InternalFailure"})
            return
        self._send(200, b"", "application/json")

    def _region(self, config: EmulatorConfig) -> str:
        """Return the region of the request's SigV4 credential scope, or the configured default."""
        match = CREDENTIAL_SCOPE.search(self.headers.get("Authorization", ""))
        return match.group(1) if match else config.default_region

    def _send(
        self, status: int, body: bytes, content_type: str = "application/json", headers: dict[str, str] | None = None
    ) -> None:
        """Write one complete response."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class EmulatorServer:
    """The emulator on a loopback HTTP port; a context manager that serves from a background thread.

    Parameters
    ----------
    host : str
        The address to bind (loopback by default).
    port : int
        The port; 0 picks a free one (read it from :attr:`endpoint_url`).
    config : EmulatorConfig or None
        The settings of a new :class:`Emulator` (ignored when ``emulator`` is given).
    emulator : Emulator or None
        An emulator to serve instead of a new one.

    Examples
    --------
    >>> with EmulatorServer(port=0, config=EmulatorConfig(create_delay=0.01)) as emu:
    ...     emu.endpoint_url.startswith("http://127.0.0.1:")
    True
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        config: EmulatorConfig | None = None,
        emulator: Emulator | None = None,
    ) -> None:
        self.emulator = emulator or Emulator(config)
        # Bound here, so the port (and endpoint_url) is known before start().
        self._httpd = _HTTPServer((host, port), self.emulator)
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        """The URL to give boto3 (``endpoint_url=``) and the AWS CLI (``--endpoint-url``)."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def state(self) -> EmulatorState:
        """The emulator's resources, records and call log (see :class:`EmulatorState`)."""
        return self.emulator.state

    def configure(self, **changes: Any) -> EmulatorConfig:
        """Change settings while serving (see :meth:`Emulator.configure`)."""
        return self.emulator.configure(**changes)

    def reset(self, *, keep_resources: bool = False) -> None:
        """Forget records, calls and counters, and resources unless ``keep_resources``."""
        self.emulator.reset(keep_resources=keep_resources)

    def start(self) -> EmulatorServer:
        """Serve from a daemon thread; return ``self``."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="personalize-emulator",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> EmulatorServer:
        """Start serving."""
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        """Stop serving."""
        self.stop()
