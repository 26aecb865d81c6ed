"""Python: messages, gRPC stubs and mypy-protobuf type stubs, package ``dhgateway``.

The messages and stubs come from the protoc of the client's protobuf floor (grpcio-tools in
the ``protobuf-floor`` venv of ``scripts/venvs.py``), not the gateway venv's newer one: a
protobuf runtime refuses gencode newer than itself, so code generated at the floor runs on
every protobuf the client declares. The type stubs come from the gateway venv's mypy-protobuf.
"""

from __future__ import annotations

import sys
from pathlib import Path

from scripts import venvs
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
        python=venvs.ensure("protobuf-floor"),
    )
    generated = with_parent / "dhgateway"
    # Packages need their __init__.py, and type checkers a py.typed; protoc writes neither.
    (generated / "py.typed").touch()
    for folder in [generated, *generated.rglob("*")]:
        if folder.is_dir():
            (folder / "__init__.py").touch()
    generated.rename(out)
    with_parent.rmdir()
