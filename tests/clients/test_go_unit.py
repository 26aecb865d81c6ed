"""The Go client's own checks: gofmt, go vet and its unit tests (``go test ./...``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.clients.lang_go import GO_DIR, go_command, go_env

#: go test compiles gRPC's packages when its cache is cold; the tests themselves take ~1 s.
GO_TIMEOUT_S = 300


def go(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [go_command(), *args],
        cwd=GO_DIR,
        env=go_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=GO_TIMEOUT_S,
    )


def test_go_is_formatted() -> None:
    run = subprocess.run(
        [str(Path(go_command()).resolve().parent / "gofmt"), "-l", "."],
        cwd=GO_DIR,
        capture_output=True,
        text=True,
        check=False,
        timeout=GO_TIMEOUT_S,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "", f"not gofmt-ed:\n{run.stdout}"


def test_go_vet() -> None:
    run = go("vet", "./...")
    assert run.returncode == 0, run.stdout + run.stderr


def test_go_unit_tests() -> None:
    run = go("test", "-count=1", "-timeout=120s", "./...")
    assert run.returncode == 0, run.stdout + run.stderr
