"""Drive one utterance with the Python client and print what happened as JSON lines.

Run by ``test_python_protobuf_floor.py`` in the ``protobuf-floor`` venv (protobuf 6.31.1), so
it may import only the client and its dependencies. Usage: ``protobuf_floor_drive.py ADDRESS
TASK_ID``; it prints ``{"protobuf": version}``, then one ``{"event": kind}`` per event and
``{"played_ms": ..., "interrupted": ...}`` at the end.
"""

from __future__ import annotations

import asyncio
import json
import sys

import grpc
from dhgateway_client import DriveGatewayClient, DriveOptions
from google.protobuf import __version__ as protobuf_version


async def main(address: str, task_id: str) -> None:
    print(json.dumps({"protobuf": protobuf_version}), flush=True)
    audio = [bytes((i * 13) % 251 for i in range(3200)) for _ in range(10)]  # 1 s at 16 kHz
    async with grpc.aio.insecure_channel(address) as channel:
        stream = DriveGatewayClient(channel).drive(
            task_id, audio, DriveOptions(sample_rate_hz=16000)
        )
        async for event in stream:
            print(json.dumps({"event": event.WhichOneof("event")}), flush=True)
        print(json.dumps({"played_ms": stream.playback.played_ms}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
