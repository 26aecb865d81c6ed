"""Node/TypeScript: ts-proto messages and @grpc/grpc-js stubs under ``clients/node/src/gen``.

Besides ``protos/`` this generates the two ``google.rpc`` files vendored in
``clients/node/protos`` (``Status`` and ``ErrorInfo``, to read a failed drive's
``grpc-status-details-bin`` trailer); ts-proto writes the ``google.protobuf`` types they and the
contract import (Any, Duration, Timestamp) next to them. ts-proto is pinned in
``clients/node/package-lock.json``, so its version header is stable.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from scripts.protogen import ROOT, run_protoc

TARGET = Path("clients/node/src/gen")

NODE_DIR = ROOT / "clients" / "node"
VENDORED = NODE_DIR / "protos"
#: Written into node_modules by ensure_node_modules: the hash of the lockfile it installed.
_STAMP = ".dh-gateway-lock.sha256"
NPM_CI_TIMEOUT_S = 300

OPTIONS = ",".join(
    [
        "outputServices=grpc-js",
        "esModuleInterop=true",
        "env=node",
        "oneof=unions-value",
        "forceLong=number",
        "useDate=true",
    ]
)


def ensure_node_modules() -> None:
    """Run ``npm ci`` in clients/node unless node_modules already holds its lockfile's packages.

    Idempotent and fast when nothing changed: node_modules keeps the hash of the lockfile that
    it was installed from. No package needs an install script, so none runs.
    """
    lock = hashlib.sha256((NODE_DIR / "package-lock.json").read_bytes()).hexdigest()
    stamp = NODE_DIR / "node_modules" / _STAMP
    if stamp.is_file() and stamp.read_text().strip() == lock:
        return
    subprocess.run(
        ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=NODE_DIR,
        check=True,
        timeout=NPM_CI_TIMEOUT_S,
    )
    stamp.write_text(lock + "\n")


def _vendored_files() -> list[Path]:
    return sorted(p.relative_to(VENDORED) for p in VENDORED.rglob("*.proto"))


def generate(out: Path) -> None:
    ensure_node_modules()
    plugin = NODE_DIR / "node_modules" / ".bin" / "protoc-gen-ts_proto"
    out.mkdir()
    run_protoc(
        f"--plugin=protoc-gen-ts_proto={plugin}",
        f"--ts_proto_out={out}",
        f"--ts_proto_opt={OPTIONS}",
        *map(str, _vendored_files()),
        includes=(VENDORED,),
        timeout_s=120,
    )
