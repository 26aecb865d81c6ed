"""The vendor's answer envelope ``{"Code", "Message", "RequestId", "Data"}`` (zego-api.md §4),
read once for every Action: a success's data, or the typed error of any other answer."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gateway.errors import UpstreamUnreachable
from gateway.upstream.codes import SUCCESS, api_error
from gateway.upstream.policy import RETRYABLE_HTTP_STATUSES

__all__ = ["interpret", "parse_envelope", "text_field"]


def interpret(action: str, status: int, raw: bytes) -> tuple[Mapping[str, Any], str]:
    """(Data, RequestId) of a successful answer; raises the typed error of any other."""
    envelope = parse_envelope(raw)
    # A non-zero Code is the most precise account of a failure, whatever the HTTP status.
    if envelope is not None and envelope[0] != SUCCESS:
        code, message, request_id, _ = envelope
        raise api_error(code, message, request_id)
    if not 200 <= status < 300:
        raise UpstreamUnreachable(
            f"{action}: the vendor API answered HTTP {status}",
            retryable=status >= 500 or status in RETRYABLE_HTTP_STATUSES,
            http_status=str(status),
        )
    if envelope is None:
        raise UpstreamUnreachable(
            f"{action}: the vendor API answered HTTP {status} with a body that is not the "
            f"documented JSON envelope ({len(raw)} bytes)",
            retryable=False,
            http_status=str(status),
        )
    _, _, request_id, data = envelope
    return data, request_id


def parse_envelope(raw: bytes) -> tuple[int, str, str, Mapping[str, Any]] | None:
    """(Code, Message, RequestId, Data) of a documented envelope, or None (zego-api.md §4)."""
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    code = document.get("Code")
    # Code is a Number; accept a numeric string too, and never a bool (a JSON true is not 1).
    if isinstance(code, str) and code.strip().lstrip("-").isdigit():
        code = int(code)
    if not isinstance(code, int) or isinstance(code, bool):
        return None
    message = document.get("Message")
    request_id = document.get("RequestId")
    data = document.get("Data")
    # Stop and Interrupt answer without Data; fields may also sit flat at the top level.
    merged: dict[str, Any] = {k: v for k, v in document.items() if k != "Data"}
    if isinstance(data, dict):
        merged.update(data)
    return (
        code,
        message if isinstance(message, str) else "",
        request_id if isinstance(request_id, str) else "",
        merged,
    )


def text_field(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""
