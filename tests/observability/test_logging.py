"""Structured logs: one line per drive lifecycle step; JSON or console; redaction units."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest
from dhgateway_client import DriveError, DriveOptions

from gateway.config import ObservabilityConfig
from gateway.observability import Redactor, configure_logging, make_formatter
from gateway.simulator import Fault
from gateway.upstream.redact import MASK
from tests.observability.conftest import observed_gateway
from tests.service.conftest import chunks, pcm, realtime

SECRET = "0123456789abcdef0123456789abcdef"
DIGEST = "9f86d081884c7d659a2feaa0c55ad015"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root logger back as it was (configure_logging changes it)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.asyncio
@pytest.mark.usefixtures("restore_logging")
async def test_one_line_per_drive_lifecycle_step() -> None:
    out = io.StringIO()
    configure_logging(ObservabilityConfig(log_format="json", log_level="INFO"), stream=out)
    labels = {"tenant": "acme"}
    async with observed_gateway() as o:
        client, sim = o.harness.client, o.harness.sim
        holder = client.drive(
            "t-q", realtime(chunks(pcm(600), 3200), 100), DriveOptions(labels=labels)
        )
        first = await anext(holder)
        queued = client.drive("t-q", [pcm(100)], DriveOptions(on_conflict="QUEUE", labels=labels))
        assert (await anext(queued)).WhichOneof("event") == "queued"
        async for _ in holder:
            pass
        waiter_events = [e async for e in queued]
        sim.set_fault(Fault(drop_after_bytes=8000), task_id="t-drop")
        with pytest.raises(DriveError):
            async for _ in client.drive("t-drop", realtime(chunks(pcm(2000), 3200), 100)):
                pass

    lines = [line for line in json_lines(out.getvalue()) if line["logger"] == "gateway.drive"]
    steps = [(line["event"], line["task_id"]) for line in lines]
    assert sorted(steps) == sorted(
        [
            ("drive started", "t-q"),
            ("drive completed", "t-q"),
            ("drive queued", "t-q"),
            ("drive started", "t-q"),
            ("drive completed", "t-q"),
            ("drive started", "t-drop"),
            ("drive failed", "t-drop"),
        ]
    )
    holder_id, waiter_id = first.drive_id, waiter_events[0].drive_id
    by_drive = {(line["event"], line["drive_id"]): line for line in lines}
    started = by_drive["drive started", holder_id]
    assert started["labels"] == labels and isinstance(started["setup_ms"], int)
    assert started["level"] == "info" and started["timestamp"]
    queued_line = next(line for line in lines if line["event"] == "drive queued")
    assert queued_line["drive_id"] == "" and queued_line["ahead"] == 1
    assert queued_line["cause"] == "task_busy" and queued_line["labels"] == labels
    done = by_drive["drive completed", waiter_id]
    assert done["status"] == "OK" and done["sent_ms"] == 100 and done["underruns"] == 0
    assert {"setup_ms", "stop_lag_ms", "received_ms", "frames_sent"} <= done.keys()
    failed = next(line for line in lines if line["event"] == "drive failed")
    assert failed["reason"] == "UPSTREAM_DISCONNECTED" and failed["status"] == "UNAVAILABLE"
    assert failed["level"] == "warning" and failed["drive_id"]
    assert failed["sent_ms"] >= 250 and "setup_ms" in failed and "error" in failed  # type: ignore[operator]


@pytest.mark.usefixtures("restore_logging")
def test_stdlib_records_with_extra_come_out_as_json() -> None:
    out = io.StringIO()
    configure_logging(ObservabilityConfig(log_format="auto", log_level="DEBUG"), stream=out)
    log = logging.getLogger("gateway.test")
    log.debug("hello %s", "world", extra={"task_id": "t-1", "labels": {"a": "b"}})
    try:
        raise ValueError(f"https://x/?Signature={DIGEST}&Nonce=1")
    except ValueError:
        log.exception("it failed")
    first, second = json_lines(out.getvalue())  # auto + not a terminal = JSON
    assert first["event"] == "hello world" and first["level"] == "debug"
    assert first["task_id"] == "t-1" and first["labels"] == {"a": "b"}
    assert first["logger"] == "gateway.test"
    assert "ValueError" in str(second["exception"]) and DIGEST not in out.getvalue()


@pytest.mark.usefixtures("restore_logging")
def test_console_format_and_reconfiguring_replaces_the_handler() -> None:
    root = logging.getLogger()
    before = len(root.handlers)
    configure_logging(ObservabilityConfig(log_format="json"), stream=io.StringIO())
    out = io.StringIO()
    configure_logging(ObservabilityConfig(log_format="console", log_level="WARNING"), stream=out)
    assert len(root.handlers) == before + 1
    log = logging.getLogger("gateway.test")
    log.info("not shown")
    log.warning("drive failed", extra={"task_id": "t-9", "token": "abc"})
    text = out.getvalue()
    assert "not shown" not in text
    assert "drive failed" in text and "task_id=t-9" in text and "token=***" in text
    assert not text.lstrip().startswith("{")


def test_redactor_masks_secrets_signatures_and_tokens() -> None:
    r = Redactor([SECRET, "short"])
    assert r.text(f"secret is {SECRET}!") == f"secret is {MASK}!"
    assert r.text("short stays") == "short stays"  # too short to mask as a literal
    assert DIGEST not in r.text(f"GET /?Action=X&Signature={DIGEST}&SignatureVersion=2.0")
    assert DIGEST not in r.text(f'{{"Signature": "{DIGEST}"}}')
    assert DIGEST not in r.text(f"{{'Signature': '{DIGEST}'}}")
    assert r.text(f"nonce {DIGEST}") == f"nonce {DIGEST}"  # a digest alone is not a signature
    assert r.text("wss://h:1/ws?Token=abc-DEF_1&x=1") == f"wss://h:1/ws?Token={MASK}&x=1"
    assert r.value({"url": "ws://h/?Token=t1", "Token": "t2", "n": [SECRET, 3]}) == {
        "url": f"ws://h/?Token={MASK}",
        "Token": MASK,
        "n": [MASK, 3],
    }


def test_the_formatter_masks_a_traceback_and_extra_fields() -> None:
    formatter = make_formatter("json", secrets=[SECRET])
    try:
        raise RuntimeError(f"connect to wss://h/ws?Token=tok123 with {SECRET}")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %s", (SECRET,), None)
        record.exc_info = sys.exc_info()
    record.__dict__["url"] = "https://api/?Signature=" + DIGEST
    line = formatter.format(record)
    assert SECRET not in line and "tok123" not in line and DIGEST not in line
    assert json.loads(line)["event"] == f"failed {MASK}"
