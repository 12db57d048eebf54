"""Refresh the ``path:line`` references of deploy/README.md's measure table after edits.

Each reference is written as `` `path:N` `anchor` ``; N becomes the first line of path holding
anchor. tests/deploy/test_readme.py fails while a reference is stale.
Usage: python deploy/readme_lines.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "deploy" / "README.md"
REF = re.compile(r"`([\w./-]+):(\d+)` `([^`]+)`")


def refresh(text: str) -> str:
    def sub(m: re.Match[str]) -> str:
        path, anchor = m.group(1), m.group(3)
        for number, line in enumerate((ROOT / path).read_text().splitlines(), 1):
            if anchor in line:
                return f"`{path}:{number}` `{anchor}`"
        raise SystemExit(f"readme_lines: {anchor!r} is no longer in {path}")

    return REF.sub(sub, text)


def main() -> int:
    README.write_text(refresh(README.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
