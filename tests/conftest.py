"""Fixtures every test gets.

The local Lambda emulation cold-starts a handler by writing its environment into ``os.environ``
(``local.lambda_runtime.load_handler``, as Lambda gives a function its variables), and some tests set endpoints
such as ``AWS_ENDPOINT_URL_SQS`` for the clients they build. A test that inherits another's endpoints sends its
requests to a server that is gone (a ``mock_aws`` test then fails with "connection refused" only when xdist
happens to run it after one of those), so every test starts from the environment the session started with.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _restore_process_environment() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)
