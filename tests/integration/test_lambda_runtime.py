"""``load_handler``: the function's environment set before its import, and every load a fresh cold start that leaves
the process's own modules alone."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.lambda_runtime import load_handler


@pytest.fixture
def fake_function(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A Lambda asset root holding fakefn/, whose config module reads FAKE_SETTING at import."""
    package = tmp_path / "fakefn"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "config.py").write_text("import os\n\nSETTING = os.environ['FAKE_SETTING']\n")
    (package / "handler.py").write_text(
        "from fakefn.config import SETTING\n\n\ndef lambda_handler(event, context):\n    return {'setting': SETTING}\n"
    )
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("FAKE_SETTING", "restored-by-monkeypatch")
    yield tmp_path
    for name in [name for name in sys.modules if name == "fakefn" or name.startswith("fakefn.")]:
        del sys.modules[name]


def test_load_handler_environment_is_set_before_import(fake_function: Path) -> None:
    # GIVEN a function whose configuration is read at module load
    # WHEN it is loaded with an environment
    handler = load_handler("fakefn.handler.lambda_handler", {"FAKE_SETTING": "first"}, source_root=fake_function)

    # THEN the module saw that environment, and the environment stays set for the handler's calls
    assert handler({}, None) == {"setting": "first"}
    assert os.environ["FAKE_SETTING"] == "first"


def test_load_handler_second_load_is_a_fresh_cold_start(fake_function: Path) -> None:
    # GIVEN a function already loaded with one environment
    first = load_handler("fakefn.handler.lambda_handler", {"FAKE_SETTING": "first"}, source_root=fake_function)

    # WHEN it is loaded again with another
    second = load_handler("fakefn.handler.lambda_handler", {"FAKE_SETTING": "second"}, source_root=fake_function)

    # THEN every module of the asset was imported again, so the new configuration took effect
    assert first({}, None) == {"setting": "first"}
    assert second({}, None) == {"setting": "second"}


def test_load_handler_cold_start_leaves_modules_imported_before_in_place(fake_function: Path) -> None:
    # GIVEN a process that imported the function's modules itself (a test patching one of them, say)
    sys.path.insert(0, str(fake_function))
    os.environ["FAKE_SETTING"] = "imported-by-the-test"
    config_before = importlib.import_module("fakefn.config")
    handler_before = importlib.import_module("fakefn.handler")

    # WHEN the handler is loaded as a cold start with another environment
    handler = load_handler("fakefn.handler.lambda_handler", {"FAKE_SETTING": "cold"}, source_root=fake_function)

    # THEN the loaded handler saw the new environment
    assert handler({}, None) == {"setting": "cold"}
    # AND the module table holds the very modules the process had, so patching or reloading them still works
    assert sys.modules["fakefn.config"] is config_before
    assert sys.modules["fakefn.handler"] is handler_before
    assert importlib.reload(config_before).SETTING == "cold"
    assert handler_before.lambda_handler is not handler


def test_load_handler_cold_start_adds_no_module_of_the_asset_to_the_table(fake_function: Path) -> None:
    # GIVEN a process that never imported the function
    # WHEN it is loaded as a cold start
    handler = load_handler("fakefn.handler.lambda_handler", {"FAKE_SETTING": "cold"}, source_root=fake_function)

    # THEN the handler works, and the process's module table is as it was: its modules are the handler's own
    assert handler({}, None) == {"setting": "cold"}
    assert [name for name in sys.modules if name.split(".")[0] == "fakefn"] == []


def test_load_handler_missing_attribute_raises(fake_function: Path) -> None:
    # GIVEN a handler path naming nothing
    # WHEN it is loaded
    # THEN the error names it
    with pytest.raises(TypeError, match=r"fakefn\.handler\.nope"):
        load_handler("fakefn.handler.nope", {"FAKE_SETTING": "x"}, source_root=fake_function)
