"""Java: messages and grpc-java stubs, package ``io.dhgateway.v1`` (``clients/java``).

The venv's protoc (``grpc_tools.protoc``) has no Java generator built in, so both tools are
pinned executables from Maven artifacts, fetched by Maven into ``.tools/`` when missing:
``com.google.protobuf:protoc`` (keep equal to ``protobuf.version`` in ``clients/java/pom.xml``:
protobuf-java refuses gencode newer than its runtime) and ``io.grpc:protoc-gen-grpc-java`` (keep
equal to ``grpc.version``). The well-known types (``google/protobuf/*.proto``) are imported from
the venv's grpc_tools.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from scripts.protogen import PROTOS, ROOT, proto_files

TARGET = Path("clients/java/src/main/generated")

#: protoc; keep equal to ``protobuf.version`` in clients/java/pom.xml.
PROTOC = ("com.google.protobuf", "protoc", "4.36.2")
#: The grpc-java code generator; keep equal to ``grpc.version`` in clients/java/pom.xml.
GRPC_JAVA = ("io.grpc", "protoc-gen-grpc-java", "1.83.1")
#: The maven-dependency-plugin that fetches them.
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
TOOLS = ROOT / ".tools"
#: Bounds each Maven fetch (a cold local repository downloads the plugin first).
FETCH_TIMEOUT_S = 600
PROTOC_TIMEOUT_S = 120

_CLASSIFIERS = {
    ("Linux", "x86_64"): "linux-x86_64",
    ("Linux", "amd64"): "linux-x86_64",
    ("Linux", "aarch64"): "linux-aarch_64",
    ("Linux", "arm64"): "linux-aarch_64",
    ("Darwin", "x86_64"): "osx-x86_64",
    ("Darwin", "arm64"): "osx-aarch_64",
}


def classifier() -> str:
    """The Maven classifier of the executables for this machine."""
    key = (platform.system(), platform.machine())
    if key not in _CLASSIFIERS:
        raise RuntimeError(f"no protoc executables for {key}")
    return _CLASSIFIERS[key]


def tool(coordinates: tuple[str, str, str]) -> Path:
    """The executable of a Maven ``exe`` artifact, fetched into ``.tools/`` once."""
    group, artifact, version = coordinates
    name = f"{artifact}-{version}-{classifier()}.exe"
    path = TOOLS / name
    if path.is_file() and os.access(path, os.X_OK):
        return path
    TOOLS.mkdir(exist_ok=True)
    # Fetch into a private folder, then rename: a half-written file is never taken for the tool.
    with tempfile.TemporaryDirectory(dir=TOOLS) as tmp:
        subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "-Dstyle.color=never",
                f"{DEPENDENCY_PLUGIN}:copy",
                f"-Dartifact={group}:{artifact}:{version}:exe:{classifier()}",
                f"-DoutputDirectory={tmp}",
            ],
            cwd=tmp,
            check=True,
            timeout=FETCH_TIMEOUT_S,
            stdout=sys.stderr,
        )
        fetched = Path(tmp) / name
        fetched.chmod(0o755)
        fetched.replace(path)
    return path


def well_known_protos() -> Path:
    """The folder holding ``google/protobuf/*.proto`` (shipped in grpc_tools)."""
    spec = importlib.util.find_spec("grpc_tools")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("grpc_tools is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "_proto"


def generate(out: Path) -> None:
    protoc = tool(PROTOC)
    plugin = tool(GRPC_JAVA)
    out.mkdir()
    subprocess.run(
        [
            str(protoc),
            f"-I{PROTOS}",
            f"-I{well_known_protos()}",
            f"--java_out={out}",
            f"--plugin=protoc-gen-grpc-java={plugin}",
            f"--grpc-java_out={out}",
            *map(str, proto_files()),
        ],
        cwd=PROTOS,
        check=True,
        timeout=PROTOC_TIMEOUT_S,
    )
    if not any(out.rglob("*.java")):
        raise RuntimeError("protoc generated no Java")
