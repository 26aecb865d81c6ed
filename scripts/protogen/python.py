"""Python: messages, gRPC stubs and mypy-protobuf type stubs, package ``dhgateway``."""

from __future__ import annotations

import sys
from pathlib import Path

from scripts.protogen import run_protoc

TARGET = Path("clients/python/src/dhgateway")


def generate(out: Path) -> None:
    bindir = Path(sys.executable).parent
    with_parent = out.parent / "_py_out"
    with_parent.mkdir()
    run_protoc(
        f"--python_out={with_parent}",
        f"--grpc_python_out={with_parent}",
        f"--plugin=protoc-gen-mypy={bindir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bindir / 'protoc-gen-mypy_grpc'}",
        f"--mypy_out=quiet:{with_parent}",
        f"--mypy_grpc_out=quiet:{with_parent}",
    )
    generated = with_parent / "dhgateway"
    # Packages need their __init__.py, and type checkers a py.typed; protoc writes neither.
    (generated / "py.typed").touch()
    for folder in [generated, *generated.rglob("*")]:
        if folder.is_dir():
            (folder / "__init__.py").touch()
    generated.rename(out)
    with_parent.rmdir()
