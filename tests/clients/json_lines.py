"""The one ``--json`` line schema every dh-drive prints, checked against the proto itself.

A drive event's line is ``{"event": <DriveEvent oneof name>, "drive_id": ..., <fields>}``, a
task's ``{"event": "task", <TaskInfo fields>}``: the message's fields by their proto names, in
the proto3 JSON form (int64 as strings, enums by name, Timestamps as RFC 3339 strings), every
field without presence printed at its default too, an unset message left out. Checking each
line against the descriptors (not against another language's output) makes every language
agree with all the others, and a field added to the proto is checked without a test change.
"""

from __future__ import annotations

from typing import Any

from dhgateway.v1 import gateway_pb2 as pb
from google.protobuf.descriptor import Descriptor, FieldDescriptor

#: The lines that are not a message of the proto, and their exact keys.
OWN_LINES = {
    "cancelled": {"at_unix_ms"},
    "interrupt": {"at_unix_ms"},
    "stopped": {"drive_id", "played_ms", "interrupted"},
    "error": {"code", "reason", "message", "metadata"},
}
#: Keys an ``error`` line has only when its status carries the detail: RetryInfo's delay (an
#: int64 of ms, so a string) and BadRequest's field violations.
ERROR_DETAILS = {"retry_delay_ms", "field_violations"}
_VIOLATION_KEYS = {"field", "description"}
_INT64 = {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT64}
_INT32 = {FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_SINT32}
_AS_STRING = {"google.protobuf.Timestamp", "google.protobuf.Duration"}


def _value_problem(field: FieldDescriptor, value: Any) -> str | None:
    """Why ``value`` is not ``field``'s single value in the proto3 JSON form (None if it is)."""
    kind = field.type
    if kind in _INT64:
        ok = isinstance(value, str) and value.lstrip("-").isdigit()
    elif kind in _INT32:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == FieldDescriptor.TYPE_BOOL:
        ok = isinstance(value, bool)
    elif kind == FieldDescriptor.TYPE_STRING:
        ok = isinstance(value, str)
    elif kind == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None  # an enum field has its type
        ok = value in field.enum_type.values_by_name
    else:
        message = field.message_type
        assert message is not None  # the rest are message fields
        if message.full_name not in _AS_STRING:
            return _message_problem(message, value)
        ok = isinstance(value, str)
    return None if ok else f"{field.name}={value!r}"


def _field_problem(field: FieldDescriptor, value: Any) -> str | None:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        return None if ok else f"{field.name}={value!r}"  # every map here is <string, string>
    if field.is_repeated:
        if not isinstance(value, list):
            return f"{field.name}={value!r}"
        return next((p for p in (_value_problem(field, v) for v in value) if p), None)
    return _value_problem(field, value)


def _message_problem(descriptor: Descriptor, body: Any) -> str | None:
    """Why ``body`` is not ``descriptor``'s message in the proto3 JSON form (None if it is)."""
    if not isinstance(body, dict):
        return f"{descriptor.name} is {body!r}"
    fields = descriptor.fields_by_name
    unknown = set(body) - set(fields)
    # Fields with presence (messages) are left out when unset; the rest are always printed.
    missing = {name for name, f in fields.items() if not f.has_presence} - set(body)
    if unknown or missing:
        return f"{descriptor.name}: unknown {sorted(unknown)}, missing {sorted(missing)}"
    problems = (_field_problem(fields[name], value) for name, value in body.items())
    return next((p for p in problems if p), None)


def _violation_ok(violation: Any) -> bool:
    return (
        isinstance(violation, dict)
        and set(violation) == _VIOLATION_KEYS
        and all(isinstance(text, str) for text in violation.values())
    )


def _error_problem(rest: dict[str, Any]) -> str | None:
    """Why ``rest`` is not an ``error`` line's body (None if it is)."""
    if not OWN_LINES["error"] <= set(rest) <= OWN_LINES["error"] | ERROR_DETAILS:
        return f"error has keys {sorted(rest)}"
    delay = rest.get("retry_delay_ms", "0")
    if not (isinstance(delay, str) and delay.isdigit()):
        return f"retry_delay_ms={delay!r}"
    violations = rest.get("field_violations", [{"field": "", "description": ""}])
    if not (isinstance(violations, list) and violations and all(map(_violation_ok, violations))):
        return f"field_violations={violations!r}"
    return None


def line_problem(line: dict[str, Any]) -> str | None:
    """Why ``line`` is not a ``--json`` line of the one schema (None if it is)."""
    kind = line.get("event")
    rest = {k: v for k, v in line.items() if k != "event"}
    if kind == "error":
        return _error_problem(rest)
    if kind in OWN_LINES:
        return None if set(rest) == OWN_LINES[kind] else f"{kind} has keys {sorted(rest)}"
    if kind == "task":
        return _message_problem(pb.TaskInfo.DESCRIPTOR, rest)
    event = pb.DriveEvent.DESCRIPTOR.fields_by_name.get(str(kind))
    if event is None or event.containing_oneof is None:
        return f"unknown event {kind!r}"
    if not isinstance(rest.pop("drive_id", None), str):
        return f"{kind} has no drive_id"
    assert event.message_type is not None  # every event is a message
    return _message_problem(event.message_type, rest)


def assert_one_schema(lines: list[dict[str, Any]]) -> None:
    """Every line is of the one schema."""
    problems = [(line, p) for line in lines if (p := line_problem(line))]
    assert not problems, problems
