"""The Go client's dh-drive, built into ``clients/go/bin`` (modules downloaded on first use)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

GO_DIR = Path(__file__).resolve().parent.parent.parent / "clients" / "go"
BINARY = GO_DIR / "bin" / "dh-drive"
#: A cold build downloads the modules and compiles gRPC (~1 min); a warm one takes ~0.4 s.
BUILD_TIMEOUT_S = 300


def go_command() -> str:
    """The ``go`` binary: on PATH, else where the official toolchain installs itself."""
    return shutil.which("go") or "/usr/local/go/bin/go"


def go_env() -> dict[str, str]:
    """The environment of every go command here: this machine's Go, no VCS stamping."""
    return dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-buildvcs=false")


def build() -> list[str]:
    """Build dh-drive (go build relinks only when a source changed); return the command."""
    subprocess.run(
        [go_command(), "build", "-o", str(BINARY), "./cmd/dh-drive"],
        cwd=GO_DIR,
        env=go_env(),
        check=True,
        timeout=BUILD_TIMEOUT_S,
    )
    return [str(BINARY)]
