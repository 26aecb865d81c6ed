"""The Python client's dh-drive (installed in the venv by ``make test``)."""

from __future__ import annotations

import sys
from pathlib import Path


def build() -> list[str]:
    return [str(Path(sys.executable).parent / "dh-drive")]
