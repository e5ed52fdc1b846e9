"""``python -m tools.publisher``: see :mod:`tools.publisher.cli`."""

from __future__ import annotations

import sys

from tools.publisher.cli import main

sys.exit(main())
