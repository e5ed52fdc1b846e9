"""``python -m tools.backfill``: see :mod:`tools.backfill.cli`."""

from __future__ import annotations

import sys

from tools.backfill.cli import main

sys.exit(main())
