"""Go: messages and gRPC stubs, package ``dhgatewayv1`` of the module in ``clients/go``.

The protoc plugins are Go programs at pinned versions, installed with ``go install`` into the
gitignored ``.tools/`` on first use (one folder per version, so a bump installs afresh); protoc
itself is the venv's ``grpc_tools``, so the generated headers name pinned versions only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from scripts.protogen import ROOT, run_protoc

TARGET = Path("clients/go/dhgatewayv1")

#: The Go module that ``clients/go`` is; protoc-gen-go maps import paths under it to folders.
MODULE = "github.com/dh-gateway/dh-gateway/clients/go"

#: Each plugin: its binary name, the package to ``go install`` and the pinned version.
PLUGINS = [
    ("protoc-gen-go", "google.golang.org/protobuf/cmd/protoc-gen-go", "v1.36.12"),
    ("protoc-gen-go-grpc", "google.golang.org/grpc/cmd/protoc-gen-go-grpc", "v1.6.2"),
]

TOOLS = ROOT / ".tools" / "go"

#: ``go install`` downloads and compiles; bounded so that a stuck download fails the run.
INSTALL_TIMEOUT_S = 600


def go_command() -> str:
    """The ``go`` binary: on PATH, else where the official toolchain installs itself."""
    found = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(found).exists():
        raise SystemExit("go: the Go toolchain is not installed (needed for the Go client)")
    return found


def plugin_path(name: str, version: str) -> Path:
    """Where :func:`plugin` installs the binary (present only once it has)."""
    return TOOLS / f"{name}-{version}" / name


def plugin(name: str, package: str, version: str) -> Path:
    """The plugin's binary, installed first when missing (idempotent)."""
    return install(plugin_path(name, version), f"{package}@{version}")


def install(binary: Path, target: str, cwd: Path = TOOLS) -> Path:
    """``binary`` (a file in its own folder under :data:`TOOLS`), made first when missing by
    ``go install TARGET`` run in ``cwd``: TARGET's command must be named as ``binary`` is."""
    if binary.exists():
        return binary
    bindir = binary.parent
    # Install into a scratch folder, then rename: an interrupted install leaves no half binary.
    scratch = bindir.with_name(f".{bindir.name}.partial")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    env = dict(os.environ, GOBIN=str(scratch), GOTOOLCHAIN="local", GOFLAGS="-buildvcs=false")
    subprocess.run(
        [go_command(), "install", target], env=env, cwd=cwd, check=True, timeout=INSTALL_TIMEOUT_S
    )
    shutil.rmtree(bindir, ignore_errors=True)
    scratch.rename(bindir)
    return binary


def generate(out: Path) -> None:
    plugins = {name: plugin(name, package, version) for name, package, version in PLUGINS}
    staging = out.parent / "_go_out"
    staging.mkdir()
    run_protoc(
        f"--plugin=protoc-gen-go={plugins['protoc-gen-go']}",
        f"--plugin=protoc-gen-go-grpc={plugins['protoc-gen-go-grpc']}",
        f"--go_out={staging}",
        f"--go_opt=module={MODULE}",
        f"--go-grpc_out={staging}",
        f"--go-grpc_opt=module={MODULE}",
    )
    # The go_package import path, less the module prefix, is TARGET's folder inside clients/go.
    (staging / TARGET.relative_to("clients/go")).rename(out)
    shutil.rmtree(staging)
