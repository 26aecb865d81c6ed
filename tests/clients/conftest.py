"""The conformance suite every client language passes: one scenario set, many ``dh-drive``s.

The languages and their builds live in ``scripts/clients/`` (one ``lang_<name>.py`` each, shared
with scripts/build_clients.py); the scenarios in ``test_conformance.py`` run each command against
a real simulator + gateway.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from gateway.testing import Harness, running_gateway
from scripts.clients import client_command, language_names

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
CLIP = ROOT / "gateway" / "assets" / "speech-16k.wav"
#: Bounds every client run: builds are done before, a drive of the clip takes ~3 s.
RUN_TIMEOUT_S = 60


@dataclass
class Run:
    """What a dh-drive run printed and how it exited."""

    lines: list[dict[str, Any]]
    returncode: int
    stderr: str

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("event") == kind]

    @property
    def error(self) -> dict[str, Any]:
        (error,) = self.events("error")
        return error


async def run_client(command: list[str], harness: Harness, *args: str) -> Run:
    """Run dh-drive against the harness's gateway with ``--json``; bounded in time."""
    return await run_dh_drive([*command, "--addr", harness.address, "--json", *args])


async def run_dh_drive(argv: list[str], env: dict[str, str] | None = None) -> Run:
    """Run ``argv`` (a dh-drive command line; ``env`` added to this process's environment)
    within :data:`RUN_TIMEOUT_S`; what it printed as JSON lines, its status and stderr."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=None if env is None else {**os.environ, **env},
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    lines = [json.loads(line) for line in stdout.decode().splitlines() if line.startswith("{")]
    assert process.returncode is not None
    return Run(lines, process.returncode, stderr.decode(errors="replace"))


def wall_of(monotonic: float) -> float:
    """A ``time.monotonic()`` reading as Unix time in ms (to compare with other processes)."""
    return (time.time() - time.monotonic() + monotonic) * 1000


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "playback: the avatar's playback events and marks on the Drive stream (issue 17); a "
        "dh-drive that predates them fails these scenarios, saying what it lacks",
    )


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[Harness]:
    async with running_gateway() as h:
        yield h


@pytest.fixture(params=language_names())
def client(request: pytest.FixtureRequest) -> list[str]:
    return client_command(request.param)
