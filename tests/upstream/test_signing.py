"""Signing (zego-api.md §3): the vendor's published test vector and the query shape."""

from __future__ import annotations

import re

from gateway.config import Credentials
from gateway.upstream.signing import new_nonce, sign, signed_query


def test_vendor_test_vector() -> None:
    assert (
        sign(12345, "4fd24687296dd9f3", "9193cc662a4c0ec135ec71fb57194b38", 1615186943)
        == "43e5cfcca828314675f91b001390566a"
    )


def test_nonce_is_16_hex_and_fresh() -> None:
    nonces = {new_nonce() for _ in range(100)}
    assert len(nonces) == 100
    assert all(re.fullmatch(r"[0-9a-f]{16}", n) for n in nonces)


def test_signed_query_has_the_common_parameters_and_signs_them() -> None:
    credentials = Credentials(app_id=12345, server_secret="9193cc662a4c0ec135ec71fb57194b38")
    query = signed_query("DriveByWsStream", credentials, now=1615186943.9)
    assert set(query) == {
        "Action",
        "AppId",
        "SignatureNonce",
        "Timestamp",
        "Signature",
        "SignatureVersion",
    }
    assert query["Action"] == "DriveByWsStream"
    assert query["AppId"] == "12345"
    assert query["Timestamp"] == "1615186943"  # whole seconds, truncated
    assert query["SignatureVersion"] == "2.0"
    expected = sign(12345, query["SignatureNonce"], credentials.server_secret, 1615186943)
    assert query["Signature"] == expected


def test_every_query_gets_a_fresh_nonce_and_signature() -> None:
    credentials = Credentials(app_id=1, server_secret="s")
    first = signed_query("DriveByWsStream", credentials, now=100.0)
    second = signed_query("DriveByWsStream", credentials, now=100.0)
    assert first["SignatureNonce"] != second["SignatureNonce"]
    assert first["Signature"] != second["Signature"]


def test_signed_query_reads_the_wall_clock_by_default() -> None:
    import time

    before = int(time.time())
    query = signed_query("X", Credentials(app_id=1, server_secret="s"))
    assert before <= int(query["Timestamp"]) <= int(time.time())
