"""``python -m local.report.screenshot REPORT.html PNG``: a PNG of a written report, taken by headless Chromium.

The README's picture of the local report (docs/local-report.png) is made this way from a ``make demo`` report.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from local.report.browser import BrowserError, screenshot


def main(argv: Sequence[str] | None = None) -> int:
    """Take the screenshot; 0 on success, 1 when Chromium is missing or fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("report", type=Path, help="the report's HTML page")
    parser.add_argument("png", type=Path, help="where to write the PNG")
    parser.add_argument("--width", type=int, default=1400, help="viewport width in CSS pixels (default 1400)")
    parser.add_argument("--height", type=int, default=1640, help="viewport height in CSS pixels (default 1640)")
    args = parser.parse_args(argv)
    if not args.report.is_file():
        parser.error(f"{args.report}: no such file")
    try:
        written = screenshot(args.report, args.png, window=(args.width, args.height))
    except BrowserError as error:
        print(f"screenshot failed: {error}", file=sys.stderr)
        return 1
    print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
