"""The pin files: requirements/runtime.txt (the image's, hashed), constraints.txt (the dev venv's).

The first tests read the files as they are, offline; the last compiles both again against the
package index (scripts/lock.py --check, about two minutes) and fails when pyproject.toml has
moved on without them.
"""

from __future__ import annotations

import subprocess
import sys

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from scripts import lock

#: Two resolutions against the index, one of them building three projects' metadata.
CHECK_TIMEOUT_S = 2 * lock.RESOLVE_TIMEOUT_S


def locked() -> dict[str, Requirement]:
    return {k: Requirement(v) for k, v in lock.pins(lock.RUNTIME.read_text()).items()}


def test_every_runtime_pin_is_exact_and_hashed() -> None:
    hashes: dict[str, int] = {}  # a pin's line, then its indented --hash lines
    pin = ""
    for line in lock.RUNTIME.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith((" ", "#")):
            pin = line
            hashes[pin] = 0
        elif line.strip().startswith("--hash=sha256:"):
            hashes[pin] += 1
    assert len(hashes) == len(locked()) > 10
    assert [pin for pin, count in hashes.items() if count == 0] == []
    for requirement in locked().values():
        (spec,) = requirement.specifier
        assert spec.operator == "==", requirement


def test_the_lock_satisfies_pyproject_at_the_dev_venvs_versions() -> None:
    pins = locked()
    dev = {k: Requirement(v) for k, v in lock.pins(lock.CONSTRAINTS.read_text()).items()}
    for line in lock.runtime_requirements():
        wanted = Requirement(line)
        pin = pins[canonicalize_name(wanted.name)]
        (spec,) = pin.specifier
        assert wanted.specifier.contains(spec.version), f"{pin} does not satisfy {wanted}"
        assert str(pin.marker) == str(wanted.marker), f"{pin}: the marker of {wanted}"
    for name, pin in pins.items():
        assert str(pin.specifier) == str(dev[name].specifier), f"{pin} but {dev[name]}"


def test_the_image_gets_redis_and_no_simulator_tracing_or_dev_tool() -> None:
    pins = locked()
    assert lock.IMAGE_EXTRAS == ("redis",)
    assert "redis" in pins
    assert str(pins["uvloop"].marker) == (
        'sys_platform != "win32" and platform_python_implementation == "CPython"'
    )
    for name in ("trustme", "opentelemetry-sdk", "pytest", "mypy", "pip-tools", "setuptools"):
        assert name not in pins, name


def test_differences_name_what_moved() -> None:
    before = "a==1 \\\n    --hash=sha256:00\n    # via x\nb==2\n"
    after = "a==1.1\nc==3 ; sys_platform == 'linux'\n"
    assert lock.differences("f", before, before) == []
    assert lock.differences("f", before, after) == [
        "f: a==1 -> a==1.1",
        "f: b==2 -> dropped",
        "f: new c==3 ; sys_platform == 'linux'",
    ]


def test_both_files_are_what_pyproject_compiles_to_today() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/lock.py", "--check"],
        cwd=lock.ROOT,
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
