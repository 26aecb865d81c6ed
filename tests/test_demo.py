"""The README's first command runs `dh-gateway demo`: it must pass its own verdict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_passes_its_verdict() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dh-gateway"), "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[FAIL]" not in result.stdout
    assert "[ok] bytes identical" in result.stdout
    assert "[ok] one connection per task" in result.stdout
