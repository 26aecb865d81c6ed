"""gateway.drive is pure: importing all of it pulls in no event loop and no network library."""

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
    print(json.dumps({{"imported": names, "forbidden_loaded": loaded}}))
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
