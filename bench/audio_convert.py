"""Benchmark of the audio converter: CPU per second of audio, in 20 ms chunks.

Run: ``.venv/bin/python -m bench.audio_convert [--seconds 60] [--repeat 5]``

Prints a markdown table: CPU time (``time.process_time``, best of ``--repeat`` runs) per second of
audio converted, its ratio to the LINEAR16 bypass measured in the same run, and the latency the
resampler adds (the output it holds back after each chunk: mean and max; and how much input it
takes before the first output).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from gateway.drive.audio import Converter, Encoding, InputFormat

CHUNK_MS = 20


@dataclass(frozen=True)
class Case:
    name: str
    fmt: InputFormat
    requested_rate_hz: int


CASES = (
    Case("LINEAR16 16 kHz mono -> 16 kHz (bypass)", InputFormat(), 0),
    Case(
        "FLOAT32 48 kHz stereo -> 24 kHz mono",
        InputFormat(encoding=Encoding.FLOAT32, sample_rate_hz=48000, channels=2),
        24000,
    ),
    Case(
        "MULAW 8 kHz mono -> 16 kHz",
        InputFormat(encoding=Encoding.MULAW, sample_rate_hz=8000),
        16000,
    ),
    Case(
        "LINEAR16 22.05 kHz mono -> 24 kHz",
        InputFormat(encoding=Encoding.LINEAR16, sample_rate_hz=22050),
        24000,
    ),
    Case(
        "LINEAR16 44.1 kHz stereo -> 24 kHz stereo",
        InputFormat(sample_rate_hz=44100, channels=2, keep_stereo=True),
        24000,
    ),
)

_WIDTH = {Encoding.LINEAR16: 2, Encoding.FLOAT32: 4, Encoding.MULAW: 1, Encoding.ALAW: 1}


@dataclass(frozen=True)
class Result:
    us_per_audio_second: float
    mean_delay_ms: float
    max_delay_ms: float
    first_output_ms: float


def _chunks(case: Case, seconds: float) -> list[bytes]:
    fmt = case.fmt
    frame = _WIDTH[fmt.encoding] * fmt.channels
    frames = int(fmt.sample_rate_hz * seconds)
    rng = np.random.default_rng(0)
    if fmt.encoding is Encoding.FLOAT32:
        data = rng.uniform(-0.5, 0.5, frames * fmt.channels).astype("<f4").tobytes()
    else:
        data = rng.bytes(frames * frame)
    step = fmt.sample_rate_hz * CHUNK_MS // 1000 * frame
    return [data[i : i + step] for i in range(0, len(data), step)]


def run(case: Case, seconds: float, repeat: int) -> Result:
    """Convert ``seconds`` of audio ``repeat`` times; the best CPU time, and delay figures."""
    chunks = _chunks(case, seconds)
    best = float("inf")
    for _ in range(repeat):
        conv = Converter(case.fmt, case.requested_rate_hz)
        start = time.process_time()
        for c in chunks:
            conv.feed(c)
        conv.finish()
        best = min(best, time.process_time() - start)
    # A separate pass for the latency figures, so their bookkeeping is not timed.
    conv = Converter(case.fmt, case.requested_rate_hz)
    delays: list[float] = []
    first_output_ms = 0.0
    for c in chunks:
        if conv.feed(c) == b"" and first_output_ms == 0.0:
            continue
        if first_output_ms == 0.0:
            first_output_ms = conv.received_ms
        delays.append(conv.delay_ms)
    return Result(
        us_per_audio_second=best / seconds * 1e6,
        mean_delay_ms=float(np.mean(delays)) if delays else 0.0,
        max_delay_ms=max(delays, default=0.0),
        first_output_ms=first_output_ms,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per case (best is kept)")
    args = parser.parse_args(argv)
    results = [(case, run(case, args.seconds, args.repeat)) for case in CASES]
    baseline = results[0][1].us_per_audio_second
    print(f"{args.seconds:g} s of audio in {CHUNK_MS} ms chunks, best of {args.repeat} runs\n")
    print(
        "| conversion | CPU µs / s of audio | x bypass | held back mean / max (ms) "
        "| first output after (ms) |"
    )
    print("|---|---:|---:|---:|---:|")
    for case, r in results:
        print(
            f"| {case.name} | {r.us_per_audio_second:,.1f} | "
            f"{r.us_per_audio_second / baseline:,.1f} | "
            f"{r.mean_delay_ms:.1f} / {r.max_delay_ms:.1f} | {r.first_output_ms:.0f} |"
        )


if __name__ == "__main__":
    main()
