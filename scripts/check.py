"""Every check CI runs, in order; stops at the first failure.

Usage: ``python scripts/check.py [pytest args...]`` (what ``make test`` runs).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def steps(pytest_args: list[str]) -> list[tuple[str, list[str]]]:
    """The checks, each a name and a command."""
    return [
        ("ruff format", [str(BIN / "ruff"), "format", "--check", "."]),
        ("ruff check", [str(BIN / "ruff"), "check", "."]),
        ("mypy --strict", [str(BIN / "mypy")]),
        ("generated code", [sys.executable, "scripts/gen_protos.py", "--check"]),
        ("configuration reference", [sys.executable, "scripts/gen_config_docs.py", "--check"]),
        ("buf lint", [str(BIN / "buf"), "lint"]),
        (
            "buf breaking (against the last released contract)",
            [str(BIN / "buf"), "breaking", "--against", "protos/baseline.binpb"],
        ),
        ("build clients", [sys.executable, "scripts/build_clients.py"]),
        ("build kustomize and crdcheck", [sys.executable, "-m", "scripts.manifests", "--tools"]),
        (
            "pytest",
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "--cov",
                "--cov-report=term",
                *pytest_args,
            ],
        ),
    ]


def main() -> int:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    for name, cmd in steps(sys.argv[1:]):
        began = time.monotonic()
        print(f"==> {name}", flush=True)
        result = subprocess.run(cmd, cwd=ROOT, env=env, check=False)
        print(
            f"<== {name}: {'ok' if result.returncode == 0 else 'FAILED'} "
            f"({time.monotonic() - began:.1f} s)",
            flush=True,
        )
        if result.returncode != 0:
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
