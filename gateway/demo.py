"""``dh-gateway demo``: the whole path on one machine, and the simulator's verdict.

Starts the simulator of the vendor's cloud and the gateway on free loopback ports, streams a
real speech clip through the Python client (as fast as the gateway accepts it: pacing does the
rest), then prints what the simulated avatar received.
"""

from __future__ import annotations

import sys
import time
import wave
from importlib import resources
from pathlib import Path

from dhgateway_client import DriveOptions

from gateway.testing import running_gateway

DEMO_TASK = "demo-task"
CHUNK_MS = 20


def bundled_clip() -> Path:
    """The speech clip shipped with the package."""
    return Path(str(resources.files("gateway") / "assets" / "speech-16k.wav"))


def read_wav(path: Path) -> tuple[bytes, int]:
    """The PCM data and the sample rate of a 16-bit WAV."""
    with wave.open(str(path), "rb") as clip:
        return clip.readframes(clip.getnframes()), clip.getframerate()


async def run_demo(audio: str | None = None) -> int:
    """Run the demo; returns 0 when the simulator's verdict is all good."""
    path = Path(audio) if audio else bundled_clip()
    raw = path.read_bytes()
    pcm, rate = read_wav(path)
    completed = None
    async with running_gateway() as h:
        print(f"simulator at {h.sim.http_url}, gateway at {h.address}")
        print(f"speaking {path.name}: {len(pcm) / (rate * 2):.2f} s of audio at {rate} Hz")
        chunk_bytes = rate * 2 * CHUNK_MS // 1000
        chunks = [raw[i : i + chunk_bytes] for i in range(0, len(raw), chunk_bytes)]
        began = time.monotonic()
        options = DriveOptions(encoding="WAV", labels={"source": "demo"})
        async for event in h.client.drive(DEMO_TASK, chunks, options):
            kind = event.WhichOneof("event")
            if kind == "started":
                print(f"started drive {event.drive_id} ({event.started.setup_ms} ms setup)")
            elif kind == "progress":
                p = event.progress
                sys.stdout.write(
                    f"\r  received {p.received_ms:6d} ms  sent {p.sent_ms:6d} ms  "
                    f"lead {p.lead_ms:5d} ms  underruns {p.underruns}"
                )
                sys.stdout.flush()
            elif kind == "completed":
                completed = event.completed
        print(f"\ncompleted in {time.monotonic() - began:.2f} s")
        sim = h.sim
        record = await sim.wait_closed(sim.drives[-1].drive_id, timeout=5.0)
    checks = {
        "bytes identical": record.audio == pcm,
        "Start then Stop, clean close": record.start is not None
        and record.stopped_at is not None
        and record.clean_close,
        f"sample rate {rate} Hz": record.sample_rate == rate,
        f"underruns {record.underruns}": record.underruns == 0,
        f"stop lag {record.stop_lag_ms or 0:.1f} ms": (record.stop_lag_ms or 0) < 20,
        "one connection per task": not sim.overlaps,
        "protocol errors none": not record.errors,
        "Completed received": completed is not None,
    }
    print("simulator verdict:")
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAIL'}] {name}")
    return 0 if all(checks.values()) else 1
