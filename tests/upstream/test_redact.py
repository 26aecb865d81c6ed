"""Redaction of URLs and library messages."""

from __future__ import annotations

import logging

import pytest

from gateway.upstream.redact import RedactingAdapter, redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("wss://10.0.0.1:8443/ws?Token=abc.def", "wss://10.0.0.1:8443/ws?Token=***"),
        ("wss://h/ws?a=1&token=x&b=2", "wss://h/ws?a=1&token=***&b=2"),
        (
            "https://api/?Action=X&AppId=1&Signature=0123abcd&SignatureNonce=n",
            "https://api/?Action=X&AppId=1&Signature=***&SignatureNonce=n",
        ),
        ("wss://user:pw@h/ws", "wss://user:***@h/ws"),
        ("wss://h/ws", "wss://h/ws"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_text_masks_inside_prose() -> None:
    text = "GET /ws?Token=s3cr3t&x=1 HTTP/1.1 and Signature=abc"
    assert redact_text(text) == "GET /ws?Token=*** &x=1 HTTP/1.1 and Signature=***".replace(
        "*** &", "***&"
    )


def test_redacting_adapter(caplog: pytest.LogCaptureFixture) -> None:
    adapter = RedactingAdapter(logging.getLogger("gateway.upstream.test"), {})
    caplog.set_level(logging.DEBUG, logger="gateway.upstream.test")
    adapter.debug("> GET %s HTTP/1.1", "/ws?Token=s3cr3t")
    try:
        raise ValueError("wss://h/ws?Token=s3cr3t")
    except ValueError:
        adapter.error("failed", exc_info=True)
    assert "s3cr3t" not in caplog.text
    assert "Token=***" in caplog.text
    assert "ValueError" in caplog.text
