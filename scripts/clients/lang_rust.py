"""The Rust client's dh-drive (``clients/rust``), built by cargo with the pinned ``Cargo.lock``.

Cargo fetches the crates from the registry on the first build and is incremental after it. The
dev profile (no debug info, see Cargo.toml) builds fastest: about 45 s cold on two cores, well
under a second warm; ``cargo test`` then reuses the same compiled dependencies.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from scripts.protogen.rust import find_cargo

CRATE = Path(__file__).resolve().parent.parent.parent / "clients" / "rust"
TARGET = CRATE / "target"
#: Bounds a cold build (crates downloaded and compiled from scratch).
BUILD_TIMEOUT_S = 900


def cargo() -> str:
    """The cargo command; the machine's toolchain provides it."""
    found = find_cargo()
    if found is None:
        raise RuntimeError("the Rust client needs cargo (the Rust toolchain) on PATH")
    return found


def build() -> list[str]:
    subprocess.run(
        [cargo(), "build", "--locked", "--bin", "dh-drive", "--target-dir", str(TARGET)],
        cwd=CRATE,
        check=True,
        timeout=BUILD_TIMEOUT_S,
    )
    return [str(TARGET / "debug" / "dh-drive")]
