"""``python -m bench.prototype --listen 127.0.0.1:0 --api URL --app-id N --server-secret S``:
the bare prototype of the pipeline, the benchmark's second baseline.

The issue measured "a straightforward prototype of this pipeline (grpc.aio in, websockets out,
no pacing, accounting or metrics)", and the gateway must beat it while doing more. This is that
prototype, so that ``python -m bench`` measures it in the same run as the gateway. Per Drive
stream: read the DriveConfig, call DriveByWsStream (one shared aiohttp session), open the
WebSocket, send Start, write Started, send each audio message as one binary frame as soon as it
arrives, send Stop at the half-close, close, write Completed (the bytes and frames sent).

Left out on purpose (each is something the gateway pays for): pacing, buffering and reframing;
conversion and any check of the format (it takes LINEAR16 mono 16 kHz, whatever the config
says); Progress events and underrun estimates; metrics and logs; API keys, admission and task
exclusivity; the API rate limit, retries, timeouts, liveness checks and drain; error mapping
(a failure ends the stream as UNKNOWN). grpc, aiohttp and websockets keep their defaults; the
Start and Stop commands are the gateway's own bytes (``gateway.upstream.codec``), and the
collector is tuned as ``dh-gateway serve`` tunes it, so that only the pipeline differs. It runs
on the gateway's default event loop (uvloop) unless ``--event-loop asyncio`` says otherwise. A
yardstick, not a service.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import signal
import sys
from collections.abc import AsyncIterator

import aiohttp
import grpc
from dhgateway.v1 import gateway_pb2 as pb, gateway_pb2_grpc as pb_grpc
from websockets.asyncio.client import connect

from gateway.config import Credentials
from gateway.loops import EVENT_LOOPS, run_loop
from gateway.upstream.codec import start_command, stop_command
from gateway.upstream.signing import signed_query

#: The only input it takes, and what it announces in Start.
SAMPLE_RATE = 16000
BYTES_PER_MS = SAMPLE_RATE * 2 // 1000  # LINEAR16 mono

Context = grpc.aio.ServicerContext[pb.DriveRequest, pb.DriveEvent]


class Prototype(pb_grpc.DriveGatewayServicer):
    """Drive only; the other methods answer UNIMPLEMENTED (the base class's)."""

    def __init__(self, session: aiohttp.ClientSession, api_url: str, credentials: Credentials):
        self.session = session
        self.api_url = api_url
        self.credentials = credentials

    async def drive_by_ws_stream(self, task_id: str) -> tuple[str, str]:
        """DriveId and WssAddress for one drive of ``task_id``; any failure raises."""
        params = signed_query("DriveByWsStream", self.credentials)
        async with self.session.post(self.api_url, params=params, json={"TaskId": task_id}) as r:
            answer = json.loads(await r.read())
        if answer.get("Code") != 0:
            raise RuntimeError(f"DriveByWsStream: Code {answer.get('Code')}: {answer}")
        data = answer.get("Data") or answer
        return str(data["DriveId"]), str(data["WssAddress"])

    async def Drive(  # type: ignore[override]  # an aio handler that writes via the context
        self, request_iterator: AsyncIterator[pb.DriveRequest], context: Context
    ) -> None:
        requests = aiter(request_iterator)
        config = (await anext(requests)).config
        drive_id, address = await self.drive_by_ws_stream(config.task_id)
        sent = frames = 0
        async with connect(address) as ws:
            await ws.send(start_command(drive_id, SAMPLE_RATE))
            started = pb.Started(output_sample_rate_hz=SAMPLE_RATE, output_channels=1)
            await context.write(pb.DriveEvent(drive_id=drive_id, started=started))
            async for request in requests:
                await ws.send(request.audio)
                sent += len(request.audio)
                frames += 1
            await ws.send(stop_command(drive_id))
        ms = sent // BYTES_PER_MS
        completed = pb.Completed(received_ms=ms, sent_ms=ms, bytes_sent=sent, frames_sent=frames)
        await context.write(pb.DriveEvent(drive_id=drive_id, completed=completed))


async def serve(listen: str, api_url: str, credentials: Credentials) -> None:
    """Serve until SIGTERM or SIGINT; prints the bound address as ``dh-gateway serve`` does."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with aiohttp.ClientSession() as session:
        server = grpc.aio.server()
        # The stubs call the methods it leaves out abstract; the generated class answers them
        # UNIMPLEMENTED.
        prototype = Prototype(session, api_url, credentials)  # type: ignore[abstract]
        pb_grpc.add_DriveGatewayServicer_to_server(prototype, server)
        port = server.add_insecure_port(listen)
        await server.start()
        # As `dh-gateway serve` does (see gateway/cli.py): the start-up heap out of the
        # collector's sight, and young collections short enough not to stall the audio.
        gc.collect()
        gc.freeze()
        gc.set_threshold(5_000, 50, 50)
        print(f"dh-gateway listening on {listen.rsplit(':', 1)[0]}:{port}", flush=True)
        await stop.wait()
        await server.stop(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.prototype", description=__doc__)
    parser.add_argument("--listen", default="127.0.0.1:0", help="host:port (port 0: a free one)")
    parser.add_argument("--api", required=True, help="the vendor API URL (the simulator's)")
    parser.add_argument("--app-id", type=int, required=True)
    parser.add_argument("--server-secret", required=True)
    parser.add_argument("--event-loop", choices=EVENT_LOOPS, default="uvloop")
    args = parser.parse_args(argv)
    credentials = Credentials(app_id=args.app_id, server_secret=args.server_secret)
    run_loop(serve(args.listen, args.api, credentials), args.event_loop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
