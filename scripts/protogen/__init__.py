"""One module per client language, each generating its code from ``protos/``.

A module defines ``TARGET`` (the committed folder, relative to the repository root) and
``generate(out: Path) -> None``, which creates ``out`` (it does not exist yet) holding exactly
what ``TARGET`` must hold; the check compares the two trees. ``scripts/gen_protos.py``
discovers the modules.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PROTOS = ROOT / "protos"


def proto_files() -> list[Path]:
    """Every .proto under protos/, relative to it, in a stable order."""
    return sorted(p.relative_to(PROTOS) for p in PROTOS.rglob("*.proto"))


def run_protoc(
    *args: str,
    includes: tuple[Path, ...] = (),
    timeout_s: float = 300,
    python: Path | None = None,
) -> None:
    """Run the venv's protoc (grpcio-tools) on every contract .proto with ``args``.

    ``protos/`` is always on the include path; ``includes`` adds more (vendored protos).
    Pass the plugins and ``--X_out`` options in ``args``; extra files to compile go last.
    ``python`` is another venv's interpreter whose grpcio-tools to run instead.
    """
    subprocess.run(
        [
            str(python or sys.executable),
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTOS}",
            *(f"-I{path}" for path in includes),
            *args,
            *map(str, proto_files()),
        ],
        check=True,
        timeout=timeout_s,
    )
