"""The Java client's dh-drive: ``clients/java``, built by Maven into a runnable jar.

``mvn package`` fetches the Maven artifacts (into the usual local repository), compiles the
committed generated code with the helper library, runs the JUnit tests and shades every
dependency into ``target/dh-drive.jar``. It is skipped while the jar is newer than the pom and
every source.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PROJECT = ROOT / "clients" / "java"
JAR = PROJECT / "target" / "dh-drive.jar"
#: Bounds the build: a cold local repository downloads ~40 MB of artifacts first.
BUILD_TIMEOUT_S = 600


def sources() -> list[Path]:
    """What the jar is built from."""
    return [PROJECT / "pom.xml", *(p for p in (PROJECT / "src").rglob("*") if p.is_file())]


def up_to_date() -> bool:
    """Whether the jar is newer than the pom and every source."""
    if not JAR.is_file():
        return False
    built = JAR.stat().st_mtime
    return all(path.stat().st_mtime < built for path in sources())


def build() -> list[str]:
    java = shutil.which("java")
    mvn = shutil.which("mvn")
    if java is None or mvn is None:
        raise RuntimeError("the Java client needs java (17+) and mvn on PATH")
    if not up_to_date():
        result = subprocess.run(
            [mvn, "-q", "-B", "-Dstyle.color=never", "package"],
            cwd=PROJECT,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"mvn package failed:\n{result.stdout}\n{result.stderr}")
    # A short-lived CLI: the quick JIT tier and the serial GC start fastest on few cores.
    return [java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-jar", str(JAR)]
