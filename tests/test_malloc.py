"""limit_malloc_arenas: glibc's arenas bounded unless the operator chose."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gateway.malloc import limit_malloc_arenas


def _in_child(code: str) -> str:
    """Run ``code`` in a fresh interpreter (mallopt changes the process it runs in)."""
    env = {name: value for name, value in os.environ.items() if name != "MALLOC_ARENA_MAX"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


CODE = "from gateway.malloc import limit_malloc_arenas; print(limit_malloc_arenas())"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_the_bound_is_set_on_glibc() -> None:
    assert _in_child(CODE) == "True"


def test_an_operators_malloc_arena_max_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False
