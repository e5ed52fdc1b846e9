"""A local Amazon Personalize: both wire protocols, model and schema validation, lifecycles, quotas, faults.

>>> from local.emulator import EmulatorConfig, EmulatorServer
>>> with EmulatorServer(port=0, config=EmulatorConfig(create_delay=0.05)) as emu:
...     url = emu.endpoint_url  # boto3.client("personalize", endpoint_url=url, ...)
"""

from __future__ import annotations

from local.emulator.config import EmulatorConfig
from local.emulator.errors import EmulatorError, ServiceError
from local.emulator.server import EmulatorServer
from local.emulator.service import Emulator
from local.emulator.state import EmulatorState

__all__ = ["Emulator", "EmulatorConfig", "EmulatorError", "EmulatorServer", "EmulatorState", "ServiceError"]
