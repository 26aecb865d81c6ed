"""``dhgateway_client.connection``: the arguments and ``DHGW_*`` variables every integration on
the Python client reads, and the channel they describe (the TLS one is tested end to end in
tests/integrations/test_livekit_edges.py)."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from dhgateway_client.connection import DEFAULT_ADDRESS, Connection


def test_nothing_given_is_plaintext_to_the_loopback_default() -> None:
    connection = Connection.from_env(environ={})
    assert connection == Connection()
    assert connection.address == DEFAULT_ADDRESS and not connection.tls
    assert connection.metadata is None and connection.credentials() is None


def test_the_variables_fill_what_the_arguments_leave_out() -> None:
    environ = {
        "DHGW_ADDRESS": "gw.example:443",
        "DHGW_API_KEY": "dhgw_from-env",
        "DHGW_PROFILE": "eu",
        "DHGW_TASK_ID": "task-env",
        "DHGW_TLS": "on",
        "DHGW_TLS_SERVER_NAME": "gateway.internal",
    }
    connection = Connection.from_env(task_id="task-arg", profile="", environ=environ)
    assert connection == Connection(
        address="gw.example:443",
        api_key="dhgw_from-env",
        profile="",  # an argument, even empty, wins
        task_id="task-arg",
        tls=True,
        server_name="gateway.internal",
    )
    assert connection.metadata == [("authorization", "Bearer dhgw_from-env")]


@pytest.mark.parametrize(("word", "tls"), [("on", True), ("TRUE", True), ("0", False), ("", False)])
def test_dhgw_tls_is_a_boolean_word(word: str, tls: bool) -> None:
    assert Connection.from_env(environ={"DHGW_TLS": word}).tls is tls


def test_tls_files_turn_tls_on_and_build_its_credentials(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    connection = Connection.from_env(environ={"DHGW_TLS_CA_FILE": str(ca)})
    assert connection.tls and connection.ca_file == str(ca)
    assert isinstance(connection.credentials(), grpc.ChannelCredentials)


@pytest.mark.parametrize(
    ("environ", "given", "message"),
    [
        ({"DHGW_TLS": "maybe"}, {}, "not on/off"),
        ({"DHGW_TLS_CLIENT_CERT_FILE": "c.pem"}, {}, "needs its key"),
        ({}, {"key_file": "k.pem"}, "needs its key"),
        ({"DHGW_TLS_CA_FILE": "ca.pem"}, {"tls": False}, "tls=False"),
    ],
)
def test_contradictions_are_refused(
    environ: dict[str, str], given: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Connection.from_env(environ=environ, **given)  # type: ignore[arg-type]


def test_an_unreadable_certificate_is_an_os_error(tmp_path: Path) -> None:
    connection = Connection(tls=True, ca_file=str(tmp_path / "missing.pem"))
    with pytest.raises(OSError):
        connection.channel()
