"""The Python client runs on its protobuf floor (6.31.1), not only on the gateway venv's 7.x.

Its generated code comes from the floor's protoc (scripts/protogen/python.py): a protobuf
runtime refuses gencode newer than itself, so gencode of 7.x would fail at import next to a
framework that holds protobuf below 7 (pipecat does). The ``protobuf-floor`` venv
(scripts/venvs.py) installs the client with exactly that protobuf; a drive there must work
against the real gateway.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from gateway.testing import running_gateway
from scripts import venvs

HERE = Path(__file__).parent


@pytest.mark.asyncio
@pytest.mark.timeout(venvs.INSTALL_TIMEOUT_S + 60)
async def test_the_client_drives_on_protobuf_6_31() -> None:
    python = await asyncio.to_thread(venvs.ensure, "protobuf-floor")
    async with running_gateway() as h:
        process = await asyncio.create_subprocess_exec(
            str(python),
            str(HERE / "protobuf_floor_drive.py"),
            h.address,
            "floor-task",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode == 0, stderr.decode(errors="replace")
        lines = [json.loads(line) for line in stdout.decode().splitlines()]
        assert lines[0] == {"protobuf": "6.31.1"}
        kinds = [line["event"] for line in lines if "event" in line]
        assert kinds[0] == "started" and kinds[-2:] == ["playback_finished", "completed"]
        assert lines[-1] == {"played_ms": 1000}
        (record,) = h.sim.drives
        assert record.audio_bytes == 32000
