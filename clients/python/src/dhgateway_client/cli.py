"""``dh-drive``: stream a WAV or raw PCM file through dh-gateway and print its events.

Every client language ships a ``dh-drive`` with these same flags and, with ``--json``, the same
output (one JSON object per line), so one test suite proves them all:

* ``{"event": "queued" | "started" | "progress" | "playback_started" | "mark_played" |
  "playback_finished" | "completed", "drive_id": ..., <fields>}``: the event's fields by their
  proto names, int64 as strings and enums by name (the proto3 JSON form); in that order, the
  stream staying open until the avatar finished (``playback_finished`` before ``completed``);
* ``{"event": "cancelled", "at_unix_ms": ...}`` after ``--cancel-after-ms`` (exit 0);
* ``{"event": "interrupt", "at_unix_ms": ...}`` when ``--interrupt-after-ms`` sends the
  in-stream interrupt; the events that follow end with ``playback_finished``
  (``interrupted``) and ``completed`` (exit 0);
* ``{"event": "error", "code": "INVALID_ARGUMENT", "reason": ..., "message": ...,
  "metadata": {...}}`` when the drive fails (exit 1).

``--mark-every-ms N`` puts a mark named ``m<offset_ms>`` after every N ms of audio (at N, 2N, ...
ms, strictly before the audio's end; a WAV file's audio is found from its header), each echoed
as a ``mark_played`` event once the avatar has played it. Without ``--json`` the events print
as ``<name> key=value...`` lines, the avatar's playback as ``speaking`` / ``mark`` /
``finished``.

``--text "..."`` (with ``--timbre-id``) speaks a text with the vendor's TTS instead of a file.
``dh-drive stop``, ``dh-drive get-task`` and ``dh-drive watch-task`` call the other RPCs
(:mod:`dhgateway_client.commands`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

from dhgateway_client.aio import Drive, drive
from dhgateway_client.audio import AudioItem, Mark
from dhgateway_client.cli_connection import add_connection_flags, connection_of
from dhgateway_client.commands import COMMANDS
from dhgateway_client.config import DriveOptions, EncodingName, PolicyName, TextInput
from dhgateway_client.connection import Connection
from dhgateway_client.errors import DriveError
from dhgateway_client.output import LiveLine, PlainLines, error_json, event_json, printer

Printer = LiveLine | PlainLines


def build_parser() -> argparse.ArgumentParser:
    """The ``dh-drive`` flags (shared by every language's dh-drive)."""
    parser = argparse.ArgumentParser(prog="dh-drive", description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", required=True, help="the vendor's stream task id")
    parser.add_argument("--file", help="a .wav file, or raw audio (or --text)")
    parser.add_argument("--text", help="speak this text with the vendor's TTS instead")
    parser.add_argument("--timbre-id", default="", help="the vendor's voice for --text")
    parser.add_argument("--encoding", choices=get_args(EncodingName), help="default: by extension")
    parser.add_argument("--rate", type=int, default=0, help="input sample rate (0: default)")
    parser.add_argument("--channels", type=int, default=0, help="input channels (0: default)")
    parser.add_argument("--policy", choices=get_args(PolicyName), default="REJECT")
    parser.add_argument("--chunk-ms", type=int, default=20, help="audio per message")
    parser.add_argument("--realtime", action="store_true", help="send at 1x, like a live TTS")
    parser.add_argument("--cancel-after-ms", type=int, help="cancel the drive after this long")
    parser.add_argument(
        "--interrupt-after-ms", type=int, help="interrupt (silence) the avatar after this long"
    )
    parser.add_argument(
        "--mark-every-ms", type=int, default=0, help="a mark m<offset_ms> every N ms of audio"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    add_connection_flags(parser)
    return parser


@dataclass(frozen=True)
class AudioLayout:
    """Where a file's audio is, and its frames: to put marks at offsets of the audio.

    Attributes:
        start: the first byte of audio (after a WAV header).
        end: the byte after the last one of audio.
        frame_bytes: bytes per frame (all channels of one sample).
        rate_hz: frames per second.
    """

    start: int
    end: int
    frame_bytes: int
    rate_hz: int

    def marks(self, every_ms: int) -> Iterator[tuple[int, int]]:
        """``(byte position, offset_ms)`` of a mark every ``every_ms`` of audio.

        At ``every_ms``, twice that, ...: strictly inside the audio (none at its start or end).
        """
        if every_ms <= 0:
            return
        offset_ms = every_ms
        while True:
            position = self.start + offset_ms * self.rate_hz // 1000 * self.frame_bytes
            if position >= self.end:
                return
            yield position, offset_ms
            offset_ms += every_ms


def wav_layout(data: bytes) -> AudioLayout | None:
    """The layout of a RIFF/WAVE file's ``data`` chunk, from its ``fmt `` chunk; None if unread."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    position, frame_bytes, rate_hz = 12, 0, 0
    while position + 8 <= len(data):
        chunk_id = data[position : position + 4]
        size = int.from_bytes(data[position + 4 : position + 8], "little")
        body = position + 8
        if chunk_id == b"fmt " and size >= 16 and body + 16 <= len(data):
            rate_hz = int.from_bytes(data[body + 4 : body + 8], "little")
            frame_bytes = int.from_bytes(data[body + 12 : body + 14], "little")
        elif chunk_id == b"data":
            if frame_bytes <= 0 or rate_hz <= 0:
                return None
            # A streamed WAV may leave the size at 0 or 0xFFFFFFFF: then to the end of the file.
            end = len(data) if size in (0, 0xFFFFFFFF) else min(len(data), body + size)
            return AudioLayout(body, end, frame_bytes, rate_hz)
        position = body + size + (size & 1)
    return None


def sample_width(encoding: EncodingName) -> int:
    """Bytes per sample of one channel: 4 for FLOAT32, 1 for MULAW and ALAW, else 2."""
    return {"FLOAT32": 4, "MULAW": 1, "ALAW": 1}.get(encoding, 2)


def audio_layout(data: bytes, encoding: EncodingName, rate: int, channels: int) -> AudioLayout:
    """The layout of ``data``: a WAV's from its header, else from the flags' format."""
    if encoding == "WAV":
        layout = wav_layout(data)
        if layout is not None:
            return layout
    return AudioLayout(0, len(data), max(channels, 1) * sample_width(encoding), rate or 16000)


def pieces(data: bytes, chunk_bytes: int, marks: Sequence[tuple[int, int]]) -> Iterator[AudioItem]:
    """``data`` in chunks of ``chunk_bytes``, cut at each mark's position and the mark after it."""
    pending = deque(marks)
    offset = 0
    while offset < len(data):
        end = min(offset + chunk_bytes, len(data))
        if pending and offset < pending[0][0] < end:
            end = pending[0][0]
        yield data[offset:end]
        offset = end
        while pending and pending[0][0] <= offset:
            yield Mark(f"m{pending.popleft()[1]}")


async def _paced(
    data: bytes, chunk_bytes: int, chunk_ms: int, realtime: bool, marks: Sequence[tuple[int, int]]
) -> AsyncIterator[AudioItem]:
    """:func:`pieces`; with ``realtime``, each chunk when its audio is due (chunk k at k x ms)."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    offset = 0
    for item in pieces(data, chunk_bytes, marks):
        if isinstance(item, bytes):
            if realtime:
                delay = began + offset / chunk_bytes * chunk_ms / 1000 - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            offset += len(item)
        yield item


def drive_options(args: argparse.Namespace) -> DriveOptions:
    """The drive's options from the flags: a text drive with ``--text``, else the file's format."""
    if args.text is not None:
        text = TextInput(text=args.text, timbre_id=args.timbre_id)
        return DriveOptions(on_conflict=args.policy, text=text)
    wav = Path(args.file).suffix.lower() == ".wav"
    return DriveOptions(
        encoding=args.encoding or ("WAV" if wav else "LINEAR16"),
        sample_rate_hz=args.rate,
        channels=args.channels,
        on_conflict=args.policy,
    )


def _audio(
    args: argparse.Namespace, options: DriveOptions, data: bytes
) -> AsyncIterator[AudioItem]:
    rate = args.rate or 16000
    width = sample_width(options.encoding)
    chunk_bytes = max(1, rate * max(args.channels, 1) * width * args.chunk_ms // 1000)
    layout = audio_layout(data, options.encoding, args.rate, args.channels)
    marks = list(layout.marks(args.mark_every_ms))
    return _paced(data, chunk_bytes, args.chunk_ms, args.realtime, marks)


async def _interrupt_after(stream: Drive, after_ms: int, say: Printer) -> None:
    await asyncio.sleep(after_ms / 1000)
    # When the interrupt is sent, which is what the avatar's silence is measured from.
    say({"event": "interrupt", "at_unix_ms": time.time() * 1000})
    await stream.interrupt()


async def run(args: argparse.Namespace, data: bytes, connection: Connection) -> int:
    """Drive once with ``data`` (the file's bytes; none for ``--text``); returns the exit status."""
    options = drive_options(args)
    say = printer(args.json)
    async with connection.channel() as channel:
        audio = () if options.text is not None else _audio(args, options, data)
        stream = drive(channel, args.task, audio, options, metadata=connection.metadata)
        cancel_after_s = args.cancel_after_ms / 1000 if args.cancel_after_ms else None
        # When the cancel is asked for (the deadline), not when we got round to reporting it.
        cancel_at_ms = (time.time() + (cancel_after_s or 0)) * 1000
        interrupter = None
        if args.interrupt_after_ms is not None:
            interrupter = asyncio.create_task(
                _interrupt_after(stream, args.interrupt_after_ms, say)
            )
        try:
            async with asyncio.timeout(cancel_after_s):
                async for event in stream:
                    say(event_json(event))
        except TimeoutError:
            await stream.aclose()
            say({"event": "cancelled", "at_unix_ms": cancel_at_ms})
        except DriveError as error:
            say(error_json(error))
            return 1
        finally:
            if interrupter is not None:
                interrupter.cancel()
                with contextlib.suppress(asyncio.CancelledError, DriveError):
                    await interrupter
            say.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dh-drive`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in COMMANDS:
        return COMMANDS[argv[0]](argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.file is None) == (args.text is None):
        parser.error("give one of --file or --text")
    connection = connection_of(args, parser)
    data = b"" if args.file is None else Path(args.file).read_bytes()
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run(args, data, connection))
    return 130


if __name__ == "__main__":
    sys.exit(main())
