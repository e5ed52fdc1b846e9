"""The Lambda runtime's side of an invocation, in this process: the handler's cold start and its context object.

``load_handler`` does what the Python runtime does before the first invocation: it sets the function's environment
and imports the handler from the asset root (``lambdas/``, put on ``sys.path`` as the runtime has it), every module of
the asset afresh. ``LambdaContext`` is the context object the runtime passes with each event.
"""

from __future__ import annotations

import datetime
import importlib
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, cast

__all__ = ["Handler", "LambdaContext", "load_handler", "log_stream_name"]

# Any, not local.sqs_event's TypedDicts: real handlers annotate the event as dict[str, Any] or Powertools' SQSEvent
# and the context as Powertools' LambdaContext, and a callable's parameters are contravariant, so anything
# narrower would reject them. Whatever it returns is judged by local.settlement.judge_response.
Handler = Callable[[Any, Any], object]

# The asset root the stack deploys the ingest function from.
DEFAULT_SOURCE_ROOT = Path(__file__).resolve().parent.parent / "lambdas"


class LambdaContext:
    """A Lambda-like context object, as the Python runtime passes it to the handler.

    ``get_remaining_time_in_millis`` counts down from the function timeout, starting when the object is
    built (at the invocation).
    """

    def __init__(
        self,
        *,
        function_name: str,
        region: str,
        account_id: str,
        timeout_s: float,
        memory_limit_in_mb: int,
        log_stream_name: str,
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = log_stream_name
        self.identity: object | None = None
        self.client_context: object | None = None
        self.tenant_id: str | None = None
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the invocation times out (0 once it has)."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def log_stream_name() -> str:
    """A log stream name as Lambda gives each execution environment: ``2026/11/22/[$LATEST]<32 hex>``."""
    today = datetime.datetime.now(tz=datetime.UTC).strftime("%Y/%m/%d")
    return f"{today}/[$LATEST]{uuid.uuid4().hex}"


def load_handler(
    handler_path: str,
    environment: Mapping[str, str],
    *,
    source_root: str | os.PathLike[str] | None = None,
    cold_start: bool = True,
) -> Handler:
    """Set the function's environment, then import its handler, like a Lambda cold start.

    The environment goes into ``os.environ`` *before* the import, because the handler reads its
    configuration at module load (docs/contracts.md §2). It is added to the process environment, not
    substituted for it, so the dummy credentials and endpoints already there stay visible.

    Parameters
    ----------
    handler_path
        ``module.attribute``, as in the function's Handler setting, e.g. ``ingest.handler.lambda_handler``.
    environment
        The function's environment variables.
    source_root
        The asset root the module is imported from (put on ``sys.path``); ``lambdas/`` by default.
    cold_start
        Import every module of ``source_root`` afresh, so module-level configuration is read again with this
        environment (a second call is a new cold start, not a warm one). The fresh modules are private to the
        returned handler: ``sys.modules`` is given back exactly as it was, so whoever imported those modules
        before (a test that patches ``ingest.pipeline``, another loaded handler) keeps the ones it holds. Classes
        a caller imported before are therefore not the ones the new handler uses (an ``isinstance`` across the
        two fails); pass False to import into the shared module table instead, reusing what is loaded.

    Returns
    -------
    Handler
        The handler callable.
    """
    module_name, _, attribute = handler_path.rpartition(".")
    if not module_name or not attribute:
        raise ValueError(f"handler must be 'module.attribute', got {handler_path!r}")
    root = Path(source_root) if source_root is not None else DEFAULT_SOURCE_ROOT
    root = root.resolve()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    os.environ.update(environment)
    importlib.invalidate_caches()
    module = _import_fresh(module_name, root) if cold_start else importlib.import_module(module_name)
    handler = getattr(module, attribute, None)
    if handler is None or not callable(handler):
        raise TypeError(f"{handler_path!r} is not a callable in {module.__name__}")
    return cast(Handler, handler)


# sys.modules is one table for the whole process: two cold starts swapping it at once would mix their modules.
_MODULE_TABLE_LOCK = threading.Lock()


def _import_fresh(module_name: str, root: Path) -> ModuleType:
    """Import ``module_name`` and every module of ``root`` it needs anew, then put ``sys.modules`` back.

    Deleting the asset's modules for good (what a cold start seems to need) breaks everyone else in the process
    who imported them: ``monkeypatch.setattr(ingest.pipeline, ...)`` would patch a module the handler no longer
    uses, and ``importlib.reload`` would refuse a module missing from the table. So the asset's modules are
    taken out only for the import, and the fresh ones stay reachable only through the module returned.
    """
    with _MODULE_TABLE_LOCK:
        saved = {name: module for name, module in sys.modules.items() if _is_under(module, root)}
        for name in saved:
            del sys.modules[name]
        try:
            return importlib.import_module(module_name)
        finally:
            for name in [name for name, module in list(sys.modules.items()) if _is_under(module, root)]:
                del sys.modules[name]
            sys.modules.update(saved)


def _is_under(module: ModuleType | None, root: Path) -> bool:
    locations = [getattr(module, "__file__", None), *list(getattr(module, "__path__", None) or [])]
    return any(location and Path(location).resolve().is_relative_to(root) for location in locations)
