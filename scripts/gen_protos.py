"""Generate the committed protobuf code from ``protos/``; ``--check`` fails on drift.

This is the ONE script that produces generated code. CI runs it with ``--check``: it generates
into a temporary folder and compares byte for byte with what is committed.

Usage: ``python scripts/gen_protos.py [--check]``
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
PYTHON_OUT = ROOT / "clients" / "python" / "src"
GENERATED_PACKAGE = Path("dhgateway")


def proto_files() -> list[Path]:
    """Every .proto under protos/, relative to it, in a stable order."""
    return sorted(p.relative_to(PROTOS) for p in PROTOS.rglob("*.proto"))


def generate_python(out: Path) -> None:
    """Python messages, gRPC stubs and typed stubs (mypy-protobuf) into ``out``."""
    bindir = Path(sys.executable).parent
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTOS}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--plugin=protoc-gen-mypy={bindir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bindir / 'protoc-gen-mypy_grpc'}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *map(str, proto_files()),
    ]
    subprocess.run(cmd, check=True)
    # Packages need their __init__.py, and type checkers a py.typed; protoc writes neither.
    (out / GENERATED_PACKAGE / "py.typed").touch()
    for folder in [out / GENERATED_PACKAGE, *(out / GENERATED_PACKAGE).rglob("*")]:
        if folder.is_dir():
            (folder / "__init__.py").touch()


def drifted(expected: Path, actual: Path) -> list[str]:
    """Paths that differ between two generated trees (missing, extra or changed)."""
    problems: list[str] = []
    comparison = filecmp.dircmp(expected, actual, ignore=["__pycache__"])

    def walk(cmp: filecmp.dircmp[str], prefix: str) -> None:
        problems.extend(f"{prefix}{name}: missing" for name in cmp.left_only)
        problems.extend(f"{prefix}{name}: not generated" for name in cmp.right_only)
        _, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
        problems.extend(f"{prefix}{name}: changed" for name in mismatch + errors)
        for name, sub in cmp.subdirs.items():
            walk(sub, f"{prefix}{name}/")

    walk(comparison, f"{GENERATED_PACKAGE}/")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed code drifted")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        generate_python(out)
        if args.check:
            problems = drifted(out / GENERATED_PACKAGE, PYTHON_OUT / GENERATED_PACKAGE)
            if problems:
                print("generated code drifted; run `make protos`:", *problems, sep="\n  ")
                return 1
            print("generated code is up to date")
            return 0
        target = PYTHON_OUT / GENERATED_PACKAGE
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(out / GENERATED_PACKAGE, target)
        print(f"generated {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
