"""One module per client language, each generating its code from ``protos/``.

A module defines ``TARGET`` (the committed folder, relative to the repository root) and
``generate(out: Path) -> None``, which creates ``out`` (it does not exist yet) holding exactly
what ``TARGET`` must hold; the check compares the two trees. ``scripts/gen_protos.py``
discovers the modules.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PROTOS = ROOT / "protos"


def proto_files() -> list[Path]:
    """Every .proto under protos/, relative to it, in a stable order."""
    return sorted(p.relative_to(PROTOS) for p in PROTOS.rglob("*.proto"))
