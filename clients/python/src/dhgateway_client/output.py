"""How ``dh-drive`` prints: a line per event, JSON with ``--json`` (the same in every language)."""

from __future__ import annotations

import json
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


def show_error(error: DriveError, as_json: bool) -> None:
    """Print a failed call as the ``error`` line."""
    line = {
        "event": "error",
        "code": error.code.name,
        "reason": error.reason,
        "message": error.message,
        "metadata": error.metadata,
    }
    show(line, as_json)
