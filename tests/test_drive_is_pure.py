"""gateway.drive is pure: importing all of it pulls in no event loop, no network library, and
nothing of the gateway but its error types."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

FORBIDDEN = ("asyncio", "aiohttp", "websockets", "grpc")

SCRIPT = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys

    import gateway.drive

    names = ["gateway.drive"]
    for info in pkgutil.walk_packages(gateway.drive.__path__, "gateway.drive."):
        importlib.import_module(info.name)
        names.append(info.name)
    forbidden = {forbidden!r}
    loaded = sorted(
        m for m in sys.modules if m.split(".")[0] in forbidden
    )
    # Of the gateway, only the drive itself and the shared error types.
    gateway = sorted(
        m for m in sys.modules
        if m.startswith("gateway.") and not m.startswith("gateway.drive")
        and m != "gateway.errors"
    )
    print(json.dumps({{"imported": names, "forbidden_loaded": loaded, "gateway": gateway}}))
    """
).format(forbidden=FORBIDDEN)


def test_drive_package_imports_no_io_library() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    imported = set(report["imported"])
    # The walk really found the modules (a typo in the walk would make this test vacuous).
    assert {
        "gateway.drive.core",
        "gateway.drive.machine",
        "gateway.drive.pacing",
        "gateway.drive.playback",
        "gateway.drive.progress",
        "gateway.drive.audio",
    } <= imported
    assert report["forbidden_loaded"] == [], f"gateway.drive pulled in {report['forbidden_loaded']}"
    assert report["gateway"] == [], f"gateway.drive imports {report['gateway']}"
