"""The Go modules' own checks: gofmt, go vet and their unit tests (``go test ./...``), for the
client, for the benchmark's load generator (``bench/loadgen``: its pacing, start offsets,
flags and report, against fake servers) and for the manifests' type checker
(``scripts/crdcheck``: tests/test_deploy_cluster.py runs it)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from scripts.clients.lang_go import GO_DIR, go_command, go_env

#: go test compiles gRPC's packages when its cache is cold; the tests themselves take ~2 s.
GO_TIMEOUT_S = 300
LOADGEN_DIR = GO_DIR.parent.parent / "bench" / "loadgen"
CRDCHECK_DIR = GO_DIR.parent.parent / "scripts" / "crdcheck"

modules = pytest.mark.parametrize(
    "module", [GO_DIR, LOADGEN_DIR, CRDCHECK_DIR], ids=["client", "loadgen", "crdcheck"]
)


def go(module: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [go_command(), *args],
        cwd=module,
        env=go_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=GO_TIMEOUT_S,
    )


@modules
def test_go_is_formatted(module: Path) -> None:
    run = subprocess.run(
        [str(Path(go_command()).resolve().parent / "gofmt"), "-l", "."],
        cwd=module,
        capture_output=True,
        text=True,
        check=False,
        timeout=GO_TIMEOUT_S,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "", f"not gofmt-ed:\n{run.stdout}"


@modules
def test_go_vet(module: Path) -> None:
    run = go(module, "vet", "./...")
    assert run.returncode == 0, run.stdout + run.stderr


@modules
def test_go_unit_tests(module: Path) -> None:
    run = go(module, "test", "-count=1", "-timeout=120s", "./...")
    assert run.returncode == 0, run.stdout + run.stderr
