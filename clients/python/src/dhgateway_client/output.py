"""How ``dh-drive`` prints: a line per event, JSON with ``--json`` (the same in every language)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from dhgateway.v1 import gateway_pb2 as pb
from google.protobuf import json_format
from google.protobuf.message import Message

from dhgateway_client.errors import DriveError


def message_json(message: Message) -> dict[str, Any]:
    """A message's fields by their proto names, int64 as strings, enums by name, defaults too."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def event_json(event: pb.DriveEvent) -> dict[str, Any]:
    """A Drive event as its line: ``{"event": <kind>, "drive_id": ..., <fields>}``."""
    kind = event.WhichOneof("event") or "unknown"
    fields = message_json(getattr(event, kind))
    return {"event": kind, "drive_id": event.drive_id, **fields}


#: The human names of the avatar's playback events (``--json`` keeps the proto's).
_SAID = {"playback_started": "speaking", "mark_played": "mark", "playback_finished": "finished"}


def show(line: dict[str, Any], as_json: bool) -> None:
    """Print ``line``: as JSON, or as ``<name> key=value...`` (the playback by its human name)."""
    if as_json:
        print(json.dumps(line), flush=True)
    else:
        rest = " ".join(f"{k}={v}" for k, v in line.items() if k != "event")
        print(f"{_SAID.get(line['event'], line['event']):<10} {rest}", flush=True)


class LiveLine:
    """A drive's lines for a terminal: each ``progress`` redraws one status line in place (sent,
    played, lead, underruns, whether the avatar speaks), the other events print above it.

    Use as ``show`` is used (``live(line)``) when stdout is a terminal and ``--json`` is off,
    and call :meth:`close` at the end. The drive's last line (``completed``, ``error``,
    ``cancelled``) replaces the status: it says all the status said.
    """

    def __init__(self, write: Callable[[str], object], flush: Callable[[], object]) -> None:
        self._write = write
        self._flush = flush
        self._progress: dict[str, Any] | None = None
        self._avatar = "waiting"
        self._over = False

    def __call__(self, line: dict[str, Any]) -> None:
        event = line["event"]
        if event == "progress":
            self._progress = line
        else:
            self._avatar = {"playback_started": "speaking", "playback_finished": "finished"}.get(
                event, self._avatar
            )
            self._over = event in _LAST
            rest = " ".join(f"{k}={v}" for k, v in line.items() if k != "event")
            self._write(f"{_CLEAR}{_SAID.get(event, event):<10} {rest}\n")
        if (p := self._progress) is not None and not self._over:
            self._write(
                f"{_CLEAR}sent {int(p['sent_ms']) / 1000:.1f} s · played "
                f"{int(p['played_ms']) / 1000:.1f} s · lead {p['lead_ms']} ms · "
                f"underruns {p['underruns']} · {self._avatar}"
            )
        self._flush()

    def close(self) -> None:
        if not self._over and self._progress is not None:
            self._write("\n")  # the status stays, on a line of its own
            self._flush()


#: The lines that end a drive's output.
_LAST = frozenset({"completed", "error", "cancelled"})
#: Back to the line's start and erase it (a VT100 sequence every terminal emulator knows).
_CLEAR = "\r\x1b[K"


def error_json(error: DriveError) -> dict[str, Any]:
    """A failed call as its ``error`` line: ``retry_delay_ms`` (an int64, as a string) and
    ``field_violations`` only when the status carries them."""
    line: dict[str, Any] = {
        "event": "error",
        "code": error.code.name,
        "reason": error.reason,
        "message": error.message,
        "metadata": error.metadata,
    }
    if error.retry_delay is not None:
        line["retry_delay_ms"] = str(error.retry_delay // timedelta(milliseconds=1))
    if error.field_violations:
        line["field_violations"] = [
            {"field": v.field, "description": v.description} for v in error.field_violations
        ]
    return line


def show_error(error: DriveError, as_json: bool) -> None:
    """Print a failed call as the ``error`` line."""
    show(error_json(error), as_json)


class PlainLines:
    """:func:`show` as a printer object: a line per event, JSON with ``as_json``."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def __call__(self, line: dict[str, Any]) -> None:
        show(line, self.as_json)

    def close(self) -> None:
        pass


def printer(as_json: bool) -> LiveLine | PlainLines:
    """How a drive prints: a :class:`LiveLine` on a terminal without ``--json``, else plain
    lines (a pipe, a file and ``--json`` always get one line per event)."""
    if not as_json and sys.stdout.isatty():
        return LiveLine(sys.stdout.write, sys.stdout.flush)
    return PlainLines(as_json)
