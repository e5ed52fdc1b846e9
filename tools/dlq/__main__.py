"""``python -m tools.dlq``: see :mod:`tools.dlq.cli`."""

from __future__ import annotations

import sys

from tools.dlq.cli import main

sys.exit(main())
