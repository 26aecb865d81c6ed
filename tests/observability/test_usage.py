"""Usage per tenant (issue 21 item 2), against the real gateway and simulator with API keys and
two credentials profiles: each drive is counted under its key's name and its profile (audio
driven within a frame of what the simulator received, speech by source, errors by reason),
the label cap folds later pairs into ``other``, ``Completed.billed_ms`` is the audio driven,
``dh-gateway usage`` prints the table from a live ``/metrics``, and the PromQL that
docs/operations.md gives for seconds per tenant per day adds up a day (``promtool test rules``).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from dhgateway.v1 import gateway_pb2 as pb
from dhgateway_client import DriveGatewayClient, DriveOptions, TextInput

from gateway.callbacks.receiver import PATH
from gateway.config import Credentials, GatewayConfig, ObservabilityConfig, ServerConfig
from gateway.errors import ConfigError, Reason
from gateway.testing import TEST_APP_ID, Harness
from tests.observability.conftest import Samples, http_get, parse_samples, value
from tests.security.conftest import (
    KEY_A,
    KEY_B,
    SECRET,
    api_key,
    bearer,
    gateway,
    held_audio,
    started,
)
from tests.security.test_auth import assert_reason, keys
from tests.service.conftest import chunks, pcm, stream_error

CALLBACK_SECRET = "callback-secret-for-usage-tests-01"
AUTH = keys(api_key("alice", KEY_A), api_key("bob", KEY_B, tasks=("b-*",)))
PROFILES = {
    name: Credentials(app_id=TEST_APP_ID, server_secret=SECRET, callback_secret=CALLBACK_SECRET)
    for name in ("default", "tenant-b")
}
#: One 16 kHz mono frame of the vendor's: what "within a frame" allows.
FRAME_MS = 20
#: The simulator renders a text, and the gateway estimates it, at 120 ms a character.
TEXT = "abcdefghij"


@asynccontextmanager
async def tenants(limit: int = 100) -> AsyncIterator[Harness]:
    """Simulator + gateway with keys alice and bob, profiles default and tenant-b, metrics on,
    and the vendor's callbacks received (the simulator sends them once told)."""
    server = ServerConfig(
        listen="127.0.0.1:0", callback_listen="127.0.0.1:0", callback_grace_ms=600
    )
    metrics = ObservabilityConfig(
        metrics_listen="127.0.0.1:0", log_format="console", usage_label_limit=limit
    )
    async with gateway(auth=AUTH, profiles=PROFILES, server=server, observability=metrics) as h:
        yield h


def client(h: Harness, key: str) -> DriveGatewayClient:
    return DriveGatewayClient(h.channel, metadata=bearer(key))


async def completed(
    drive: DriveGatewayClient, task: str, audio: list[bytes], options: DriveOptions | None = None
) -> tuple[pb.Completed, str]:
    """Run a drive to its Completed: (Completed, DriveId)."""
    async with asyncio.timeout(20):
        events = [e async for e in drive.drive(task, audio, options)]
    assert events[-1].WhichOneof("event") == "completed", events[-1]
    return events[-1].completed, events[-1].drive_id


def driven_ms(h: Harness, drive_id: str) -> float:
    """The audio the simulator received for a drive (16 kHz mono s16)."""
    return h.sim.drive(drive_id).audio_bytes / 32


async def scrape(h: Harness) -> Samples:
    status, text = await http_get(f"http://{h.app.metrics_address}/metrics")
    assert status == 200
    return parse_samples(text)


def usage(samples: Samples, family: str, principal: str, profile: str, **labels: str) -> float:
    name = f"dhgw_usage_{family}_total"
    return value(samples, name, principal=principal, profile=profile, **labels)


def set_callbacks(h: Harness, on: bool) -> None:
    assert h.app.callbacks is not None
    url = f"http://{h.app.callbacks.address}{PATH}" if on else None
    h.sim.set_callbacks(url, CALLBACK_SECRET)


@pytest.mark.asyncio
async def test_drives_are_counted_per_key_and_profile() -> None:
    async with tenants() as h:
        alice, bob = client(h, KEY_A), client(h, KEY_B)
        # alice: 300 ms on the default profile (the estimate stands), 500 ms on tenant-b with
        # the vendor's callbacks (it confirms the end), and a text.
        a1, a1_id = await completed(alice, "a-1", chunks(pcm(300), 640))
        set_callbacks(h, True)
        a2, a2_id = await completed(
            alice, "a-2", chunks(pcm(500), 640), DriveOptions(profile="tenant-b")
        )
        set_callbacks(h, False)
        say = DriveOptions(text=TextInput(text=TEXT, timbre_id="tb-1"))
        a3, _ = await completed(alice, "a-3", [], say)
        # bob: 200 ms on tenant-b; one that fails after 100 ms were sent; two refused.
        b1, b1_id = await completed(
            bob, "b-1", chunks(pcm(200), 640), DriveOptions(profile="tenant-b")
        )
        error = await stream_error(bob.drive("b-2", [pcm(100), b"\x01"]))
        assert_reason(error, Reason.PARTIAL_SAMPLE)
        assert_reason(await stream_error(bob.drive("a-9", [pcm(100)])), Reason.PERMISSION_DENIED)
        refused = bob.drive("b-3", [pcm(100)], DriveOptions(profile="nope"))
        assert_reason(await stream_error(refused), Reason.UNKNOWN_PROFILE)
        samples = await scrape(h)

    # Completed.billed_ms is the audio the avatar was driven with.
    for done, drive_id in ((a1, a1_id), (a2, a2_id), (b1, b1_id)):
        assert done.billed_ms == done.sent_ms
        assert abs(done.billed_ms - driven_ms(h, drive_id)) <= FRAME_MS
    assert (a1.billed_ms, a2.billed_ms, b1.billed_ms) == pytest.approx(
        (300, 500, 200), abs=FRAME_MS
    )
    assert (a3.sent_ms, a3.billed_ms) == (0, 120 * len(TEXT))  # the text's rendered length

    def audio_s(principal: str, profile: str) -> float:
        return usage(samples, "audio_seconds", principal, profile)

    assert audio_s("alice", "default") == pytest.approx((a1.billed_ms + a3.billed_ms) / 1000)
    assert audio_s("alice", "tenant-b") == pytest.approx(a2.billed_ms / 1000)
    assert audio_s("bob", "tenant-b") == pytest.approx(b1.billed_ms / 1000)
    assert audio_s("bob", "default") == pytest.approx(0.1, abs=FRAME_MS / 1000)  # failed, driven
    assert audio_s("alice", "default") - a3.billed_ms / 1000 == pytest.approx(
        driven_ms(h, a1_id) / 1000, abs=FRAME_MS / 1000
    )

    def drives(principal: str, profile: str, outcome: str) -> float:
        return usage(samples, "drives", principal, profile, outcome=outcome)

    assert drives("alice", "default", "completed") == 2
    assert drives("alice", "tenant-b", "completed") == 1
    assert drives("bob", "tenant-b", "completed") == 1
    assert drives("bob", "default", "failed") == 1
    assert drives("bob", "", "refused") == 2  # refused before a profile was known to exist
    assert not any(
        name.startswith("dhgw_usage") and ("profile", "nope") in labels for name, labels in samples
    )  # a client's string never becomes a label

    def errors(principal: str, profile: str, reason: Reason) -> float:
        return usage(samples, "errors", principal, profile, reason=reason.value)

    assert errors("bob", "default", Reason.PARTIAL_SAMPLE) == 1
    assert errors("bob", "", Reason.PERMISSION_DENIED) == 1
    assert errors("bob", "", Reason.UNKNOWN_PROFILE) == 1
    assert sum(v for (n, _), v in samples.items() if n == "dhgw_usage_errors_total") == 3

    # Speech: the vendor confirmed alice's tenant-b drive; the estimate stood for the rest.
    def speaking_s(principal: str, profile: str, source: str) -> float:
        return usage(samples, "speaking_seconds", principal, profile, source=source)

    assert speaking_s("alice", "tenant-b", "vendor") == pytest.approx(a2.played_ms / 1000)
    assert speaking_s("alice", "tenant-b", "estimated") == 0
    assert speaking_s("alice", "default", "estimated") == pytest.approx(
        (a1.played_ms + a3.played_ms) / 1000
    )
    assert speaking_s("bob", "tenant-b", "estimated") == pytest.approx(b1.played_ms / 1000)
    assert a1.played_ms == a1.sent_ms and b1.played_ms == b1.sent_ms


@pytest.mark.asyncio
async def test_list_drives_and_get_task_say_what_a_live_drive_was_billed() -> None:
    async with tenants() as h:
        alice = client(h, KEY_A)
        release = asyncio.Event()
        stream = alice.drive("a-live", held_audio(release))
        drive_id = await started(stream)
        async with asyncio.timeout(10):  # the 200 ms go out at once (inside the pacing lead)
            while True:  # what ListDrives says is what is waited for
                listed = await alice.list_drives("a-live")
                if listed[0].sent_ms >= 200:
                    break
                await asyncio.sleep(0.02)
        task = await alice.get_task("a-live")
        release.set()
        async with asyncio.timeout(20):
            events = [e async for e in stream]
    assert (listed[0].drive_id, listed[0].billed_ms) == (drive_id, listed[0].sent_ms)
    assert listed[0].billed_ms == pytest.approx(200, abs=FRAME_MS)
    assert task.active_drive.billed_ms == task.active_drive.sent_ms == listed[0].billed_ms
    assert events[-1].completed.billed_ms == listed[0].billed_ms


@pytest.mark.asyncio
async def test_pairs_beyond_the_cap_are_counted_as_other() -> None:
    async with tenants(limit=2) as h:
        alice, bob = client(h, KEY_A), client(h, KEY_B)
        await completed(alice, "a-1", [pcm(100)])
        await completed(bob, "b-1", [pcm(100)], DriveOptions(profile="tenant-b"))
        await completed(alice, "a-2", [pcm(200)], DriveOptions(profile="tenant-b"))  # a third pair
        await completed(bob, "b-2", [pcm(300)])  # a fourth
        await completed(alice, "a-3", [pcm(100)])  # the first pair again: still its own
        samples = await scrape(h)
    pairs = {
        (dict(labels)["principal"], dict(labels)["profile"])
        for name, labels in samples
        if name == "dhgw_usage_drives_total"
    }
    assert pairs == {("alice", "default"), ("bob", "tenant-b"), ("other", "other")}
    assert usage(samples, "drives", "alice", "default", outcome="completed") == 2
    assert usage(samples, "drives", "other", "other", outcome="completed") == 2
    assert usage(samples, "audio_seconds", "other", "other") == pytest.approx(0.5, abs=0.02)


def test_the_reserved_names_and_a_negative_cap_are_refused() -> None:
    base = GatewayConfig.for_test(app_id=TEST_APP_ID, server_secret=SECRET, api_url="http://x")
    for name in ("other", "anonymous"):
        with pytest.raises(ConfigError, match="reserved"):
            GatewayConfig(profiles=base.profiles, auth=keys(api_key(name, KEY_A)))
    with pytest.raises(ConfigError, match="reserved"):
        GatewayConfig(profiles={**base.profiles, "other": base.profiles["default"]})
    with pytest.raises(ConfigError, match="usage_label_limit"):
        ObservabilityConfig(usage_label_limit=-1)


DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
PROMQL_TEST = """
rule_files: [rules.yml]
tests:
  - interval: 1m
    input_series:
      # A day of alice on two replicas, one restarted at 10:00; other at 0.5 s a minute.
      - series: 'dhgw_usage_audio_seconds_total{principal="alice",profile="default",instance="a"}'
        values: '0+2.5x1440'
      - series: 'dhgw_usage_audio_seconds_total{principal="alice",profile="default",instance="b"}'
        values: '0+1x600 0+1x839'
      - series: 'dhgw_usage_audio_seconds_total{principal="other",profile="other",instance="a"}'
        values: '0+0.5x1440'
    promql_expr_test:
      - expr: EXPR
        eval_time: 1d
        exp_samples:
          - labels: '{principal="alice",profile="default"}'
            value: 5039
          - labels: '{principal="other",profile="other"}'
            value: 720
"""


def test_the_documented_promql_sums_a_day_per_tenant(tmp_path: Path) -> None:
    section = DOCS.read_text().split("### Usage per tenant", 1)[1]
    expr = section.split("```promql\n", 1)[1].split("\n```", 1)[0].strip()
    assert expr == "sum by (principal, profile) (increase(dhgw_usage_audio_seconds_total[1d]))"
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: run `make test` (scripts/system-deps.sh)")
    (tmp_path / "rules.yml").write_text("groups: []\n")
    (tmp_path / "test.yml").write_text(PROMQL_TEST.replace("EXPR", expr))
    result = subprocess.run(
        [promtool, "test", "rules", "test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def dh_gateway(*args: str) -> tuple[int, str, str]:
    """Run ``dh-gateway ARGS`` in a process of its own: (exit status, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.asyncio
async def test_dh_gateway_usage_prints_the_table() -> None:
    async with tenants() as h:
        await completed(client(h, KEY_A), "a-1", [pcm(400)])
        error = await stream_error(client(h, KEY_B).drive("a-2", [pcm(100)]))
        assert_reason(error, Reason.PERMISSION_DENIED)
        status, out, err = await dh_gateway("usage", h.app.metrics_address)
    assert (status, err) == (0, "")
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == [
        "principal",
        "profile",
        "drives",
        "audio",
        "s",
        "speaking",
        "s",
        "errors",
        "reasons",
    ]
    assert lines[1:] == [
        ["alice", "default", "1", "0.4", "0.4", "0"],
        ["bob", "-", "1", "0.0", "0.0", "1", "PERMISSION_DENIED", "1"],
        ["total", "2", "0.4", "0.4", "1", "PERMISSION_DENIED", "1"],
    ]


@pytest.mark.asyncio
async def test_dh_gateway_usage_says_when_nothing_answers() -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    status, out, err = await dh_gateway("usage", f"127.0.0.1:{port}", "--timeout", "2")
    assert (status, out) == (1, "")
    assert err.startswith(f"dh-gateway usage: http://127.0.0.1:{port}/metrics: ")
    status, _, err = await dh_gateway("usage", "file:///etc/passwd")
    assert (status, err) == (1, "dh-gateway usage: file:///etc/passwd: not an http(s) URL\n")
