"""Generate every language's committed code from ``protos/``; ``--check`` fails on drift.

This is the ONE script that produces generated code. Each language is a module of
``scripts/protogen`` (``TARGET`` + ``generate(out)``). ``--check`` generates into a temporary
folder and compares byte for byte with what is committed; CI runs it.

Usage: ``python scripts/gen_protos.py [--check] [--lang NAME ...]``
"""

from __future__ import annotations

import argparse
import filecmp
import importlib
import pkgutil
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts import protogen
from scripts.protogen import ROOT

IGNORED = ["__pycache__", "node_modules", "target"]


def languages() -> dict[str, ModuleType]:
    """Every generator module, by language name."""
    return {
        info.name: importlib.import_module(f"scripts.protogen.{info.name}")
        for info in pkgutil.iter_modules(protogen.__path__)
    }


def drifted(expected: Path, actual: Path, prefix: str) -> list[str]:
    """Paths that differ between a fresh tree and the committed one."""
    if not actual.is_dir():
        return [f"{prefix}: missing"]
    problems: list[str] = []

    def walk(cmp: filecmp.dircmp[str], where: str) -> None:
        problems.extend(f"{where}{name}: not committed" for name in cmp.left_only)
        problems.extend(f"{where}{name}: not generated" for name in cmp.right_only)
        _, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
        problems.extend(f"{where}{name}: changed" for name in mismatch + errors)
        for name, sub in cmp.subdirs.items():
            walk(sub, f"{where}{name}/")

    walk(filecmp.dircmp(expected, actual, ignore=IGNORED), f"{prefix}/")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed code drifted")
    parser.add_argument("--lang", action="append", help="only these languages")
    args = parser.parse_args(argv)
    chosen = {k: v for k, v in languages().items() if not args.lang or k in args.lang}
    problems: list[str] = []
    for name, module in chosen.items():
        target = ROOT / module.TARGET
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "generated"
            module.generate(out)
            if args.check:
                problems += drifted(out, target, str(module.TARGET))
                continue
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(out, target)
            print(f"{name}: generated {module.TARGET}")
    if args.check:
        if problems:
            print("generated code drifted; run `make protos`:", *problems, sep="\n  ")
            return 1
        print(f"generated code is up to date ({', '.join(chosen)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
