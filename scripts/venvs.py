"""The side venvs beside ``.venv``: each pinned exactly, created on first use, rebuilt on change.

Some things cannot live in the gateway's venv, whose protobuf is 7.x: the oldest protobuf the
Python client supports (its protoc generates the client's code, and a test runs the client on
it), and frameworks that require protobuf<7. Each venv here is made from one pins file; a stamp
of the pins (and the ``pyproject.toml`` files it installs from) says whether it is current.

Usage: ``python scripts/venvs.py NAME...`` (a key of :data:`SPECS`) creates or updates
them and prints each one's python.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Where the venvs' locks live (gitignored): one process creates a venv, the others wait.
LOCKS = ROOT / ".tools"

#: Creating a venv downloads wheels; bounded so that a stuck download fails the caller.
INSTALL_TIMEOUT_S = 900


@dataclass(frozen=True)
class Spec:
    """One side venv.

    Attributes:
        path: where it lives (gitignored).
        pip_args: what ``pip install`` gets, relative to the repository root.
        inputs: the files whose contents decide whether the venv is current.
    """

    path: Path
    pip_args: tuple[str, ...]
    inputs: tuple[Path, ...]

    @property
    def python(self) -> Path:
        """The venv's interpreter."""
        return self.path / "bin" / "python"

    def stamp(self) -> str:
        """A digest of the pip arguments and of every input file's bytes."""
        digest = hashlib.sha256("\0".join(self.pip_args).encode())
        for path in self.inputs:
            digest.update(path.read_bytes())
        return digest.hexdigest()


SPECS = {
    # The client's protobuf floor: generating its code with this protoc keeps it importable on
    # every protobuf from the floor up (a runtime accepts gencode as old as itself or older).
    "protobuf-floor": Spec(
        ROOT / ".tools" / "protobuf-floor",
        ("-r", "scripts/protobuf-floor.txt", "-e", "clients/python"),
        (ROOT / "scripts/protobuf-floor.txt", ROOT / "clients/python/pyproject.toml"),
    ),
    # pipecat-ai requires protobuf<7: its plugin (integrations/pipecat) is tested here.
    "pipecat": Spec(
        ROOT / ".venv-pipecat",
        (
            "-c",
            "integrations/pipecat/constraints.txt",
            "-e",
            "clients/python",
            "-e",
            "integrations/pipecat[dev]",
        ),
        (
            ROOT / "integrations/pipecat/constraints.txt",
            ROOT / "clients/python/pyproject.toml",
            ROOT / "integrations/pipecat/pyproject.toml",
        ),
    ),
}


def ensure(name: str, *, timeout_s: float = INSTALL_TIMEOUT_S) -> Path:
    """Create the venv ``name`` of :data:`SPECS` unless current; return its python.

    Safe to call from several processes at once (they wait for one another). A failed or
    interrupted install leaves no stamp, so the next call starts afresh.

    Raises:
        subprocess.CalledProcessError: pip failed (its output went to stderr).
        subprocess.TimeoutExpired: the install took longer than ``timeout_s``.
    """
    spec = SPECS[name]
    stamp_file = spec.path / ".dhgw-stamp"
    stamp = spec.stamp()
    LOCKS.mkdir(parents=True, exist_ok=True)
    with open(LOCKS / f"venv-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp_file.exists() and stamp_file.read_text() == stamp and spec.python.exists():
            return spec.python
        shutil.rmtree(spec.path, ignore_errors=True)
        subprocess.run(
            [sys.executable, "-m", "venv", str(spec.path)], check=True, timeout=timeout_s
        )
        subprocess.run(
            [str(spec.python), "-m", "pip", "install", "-q", *spec.pip_args],
            cwd=ROOT,
            check=True,
            timeout=timeout_s,
            stdout=sys.stderr,
        )
        stamp_file.write_text(stamp)
    return spec.python


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="+", choices=sorted(SPECS))
    for name in parser.parse_args(argv).names:
        print(ensure(name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
