"""``dh-drive``: stream a WAV or raw PCM file through dh-gateway and print its events.

Every client language ships a ``dh-drive`` with these same flags and, with ``--json``, the same
output (one JSON object per line), so one test suite proves them all:

* ``{"event": "queued" | "started" | "progress" | "completed", "drive_id": ..., <fields>}``;
* ``{"event": "cancelled", "at_unix_ms": ...}`` after ``--cancel-after-ms`` (exit 0);
* ``{"event": "error", "code": "INVALID_ARGUMENT", "reason": ..., "message": ...,
  "metadata": {...}}`` when the drive fails (exit 1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, get_args

import grpc
from dhgateway.v1 import gateway_pb2 as pb
from google.protobuf import json_format

from dhgateway_client.aio import drive
from dhgateway_client.config import DriveOptions, EncodingName, PolicyName
from dhgateway_client.errors import DriveError


def build_parser() -> argparse.ArgumentParser:
    """The ``dh-drive`` flags (shared by every language's dh-drive)."""
    parser = argparse.ArgumentParser(prog="dh-drive", description=__doc__.split("\n\n")[0])
    parser.add_argument("--addr", default="127.0.0.1:50051", help="gateway host:port")
    parser.add_argument("--task", required=True, help="the vendor's stream task id")
    parser.add_argument("--file", required=True, help="a .wav file, or raw audio")
    parser.add_argument("--encoding", choices=get_args(EncodingName), help="default: by extension")
    parser.add_argument("--rate", type=int, default=0, help="input sample rate (0: default)")
    parser.add_argument("--channels", type=int, default=0, help="input channels (0: default)")
    parser.add_argument("--policy", choices=get_args(PolicyName), default="REJECT")
    parser.add_argument("--chunk-ms", type=int, default=20, help="audio per message")
    parser.add_argument("--realtime", action="store_true", help="send at 1x, like a live TTS")
    parser.add_argument("--cancel-after-ms", type=int, help="cancel the drive after this long")
    parser.add_argument("--api-key", help="sent as authorization: Bearer <key>")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    return parser


async def _chunks(
    data: bytes, chunk_bytes: int, chunk_ms: int, realtime: bool
) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    began = loop.time()
    for index, offset in enumerate(range(0, len(data), chunk_bytes)):
        if realtime:
            delay = began + index * chunk_ms / 1000 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        yield data[offset : offset + chunk_bytes]


def _event_json(event: pb.DriveEvent) -> dict[str, Any]:
    kind = event.WhichOneof("event") or "unknown"
    fields = json_format.MessageToDict(
        getattr(event, kind),
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )
    return {"event": kind, "drive_id": event.drive_id, **fields}


def _show(line: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(line), flush=True)
    else:
        rest = " ".join(f"{k}={v}" for k, v in line.items() if k != "event")
        print(f"{line['event']:<10} {rest}", flush=True)


async def run(args: argparse.Namespace, data: bytes) -> int:
    """Drive once with ``data`` (the file's bytes); returns the exit status."""
    wav = Path(args.file).suffix.lower() == ".wav"
    encoding: EncodingName = args.encoding or ("WAV" if wav else "LINEAR16")
    options = DriveOptions(
        encoding=encoding,
        sample_rate_hz=args.rate,
        channels=args.channels,
        on_conflict=args.policy,
    )
    width = {"FLOAT32": 4, "MULAW": 1, "ALAW": 1}.get(encoding, 2)
    rate = args.rate or 16000
    chunk_bytes = max(1, rate * max(args.channels, 1) * width * args.chunk_ms // 1000)
    metadata = [("authorization", f"Bearer {args.api_key}")] if args.api_key else None
    async with grpc.aio.insecure_channel(args.addr) as channel:
        audio = _chunks(data, chunk_bytes, args.chunk_ms, args.realtime)
        stream = drive(channel, args.task, audio, options, metadata=metadata)
        cancel_after_s = args.cancel_after_ms / 1000 if args.cancel_after_ms else None
        # When the cancel is asked for (the deadline), not when we got round to reporting it.
        cancel_at_ms = (time.time() + (cancel_after_s or 0)) * 1000
        try:
            async with asyncio.timeout(cancel_after_s):
                async for event in stream:
                    _show(_event_json(event), args.json)
        except TimeoutError:
            await stream.aclose()
            _show({"event": "cancelled", "at_unix_ms": cancel_at_ms}, args.json)
        except DriveError as error:
            _show(
                {
                    "event": "error",
                    "code": error.code.name,
                    "reason": error.reason,
                    "message": error.message,
                    "metadata": error.metadata,
                },
                args.json,
            )
            return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dh-drive`` console script."""
    args = build_parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run(args, Path(args.file).read_bytes()))
    return 130


if __name__ == "__main__":
    sys.exit(main())
