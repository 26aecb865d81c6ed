"""The error contract in the proto (``ErrorReason``) and the gateway's own tables agree.

``gateway/errors.py`` (Reason) and ``gateway/service/status.py`` (the code of each reason, and
which reasons carry a RetryInfo) are what the gateway does; ``protos/dhgateway/v1/
error_reason.proto`` is what clients are told. Each enum value's comment says
``Code: <code>. Retry: <yes | no>.``; this test reads it from the .proto's text (generated
code drops comments) so that neither side can drift from the other.
"""

from __future__ import annotations

import re
from pathlib import Path

from dhgateway.v1 import error_reason_pb2

from gateway.errors import Reason
from gateway.service.status import RETRY_AFTER_MS, STATUS_OF

PROTO = Path(__file__).resolve().parents[2] / "protos" / "dhgateway" / "v1" / "error_reason.proto"
UNSPECIFIED = "ERROR_REASON_UNSPECIFIED"
_ENUM = re.compile(r"^enum ErrorReason \{\n(?P<body>.*?)^\}", re.DOTALL | re.MULTILINE)
_VALUE = re.compile(r"^  (?P<name>[A-Z0-9_]+) = (?P<number>\d+);$")
_DOC = re.compile(r"Code: (?P<code>[A-Z_]+)\. Retry: (?P<retry>yes|no)\.")


def documented() -> dict[str, tuple[str, bool]]:
    """Each ErrorReason value of the .proto (less UNSPECIFIED): its code and whether to retry."""
    found = _ENUM.search(PROTO.read_text())
    assert found, f"no enum ErrorReason in {PROTO}"
    values: dict[str, tuple[str, bool]] = {}
    comment: list[str] = []
    for line in found["body"].splitlines():
        stripped = line.strip()
        if stripped.startswith("//"):
            comment.append(stripped.removeprefix("//").strip())
            continue
        if value := _VALUE.match(line):
            doc = _DOC.search(" ".join(comment))
            if value["name"] != UNSPECIFIED:
                assert doc, f"{value['name']}: its comment lacks 'Code: X. Retry: yes|no.'"
                values[value["name"]] = (doc["code"], doc["retry"] == "yes")
        comment = []
    return values


def test_the_proto_and_the_gateway_list_the_same_reasons() -> None:
    generated = [name for name in error_reason_pb2.ErrorReason.keys() if name != UNSPECIFIED]
    assert sorted(documented()) == sorted(generated), "regenerate: scripts/gen_protos.py"
    assert sorted(generated) == sorted(r.value for r in Reason)
    # The enum's names ARE the ErrorInfo reasons (no prefix to strip).
    assert all(r.name == r.value for r in Reason)


def test_each_reason_comes_with_the_code_the_proto_documents() -> None:
    codes = {name: code for name, (code, _) in documented().items()}
    assert codes == {r.value: STATUS_OF[r].name for r in Reason}


def test_the_reasons_to_retry_are_those_the_proto_documents() -> None:
    retried = {name for name, (_, retry) in documented().items() if retry}
    assert retried == {r.value for r in RETRY_AFTER_MS}


def test_the_zero_value_is_unspecified() -> None:
    assert error_reason_pb2.ErrorReason.Value(UNSPECIFIED) == 0
