"""Where the gateway is and how to reach it: from arguments, else the ``DHGW_*`` environment.

The integrations built on this client (the LiveKit Agents and pipecat plugins) read their
connection here, so one set of variables points them all at a gateway:

* ``DHGW_ADDRESS``: the gateway, ``host:port`` or ``unix:/path`` (default ``127.0.0.1:50051``);
* ``DHGW_API_KEY``: sent as ``authorization: Bearer <key>``;
* ``DHGW_PROFILE``: the gateway's credentials profile ("" = its default);
* ``DHGW_TASK_ID``: the vendor's stream task to drive;
* ``DHGW_TLS``: ``on`` for TLS with the system's roots;
* ``DHGW_TLS_CA_FILE``: PEM roots that verify the gateway (turns TLS on);
* ``DHGW_TLS_CLIENT_CERT_FILE`` and ``DHGW_TLS_CLIENT_KEY_FILE``: a client certificate for
  mutual TLS (turn TLS on);
* ``DHGW_TLS_SERVER_NAME``: the name on the gateway's certificate, when not the address's host;
* ``TRACEPARENT`` and ``TRACESTATE``: a W3C trace context to join (OpenTelemetry's convention for
  passing one to a process through its environment), sent with every call.

None of these is one of the gateway's own settings (those say where it *listens*:
``DHGW_LISTEN``, ``DHGW_TLS_CERT_FILE``...), so a shell may hold both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc

from dhgateway_client.aio import DriveGatewayClient, Metadata

DEFAULT_ADDRESS = "127.0.0.1:50051"
_TRUE = {"1", "on", "true", "yes"}
_FALSE = {"", "0", "off", "false", "no"}


@dataclass(frozen=True, kw_only=True)
class Connection:
    """How to reach one gateway, and which task to drive there.

    Build it with :meth:`from_env`; :meth:`channel` opens the gRPC channel it describes and
    :meth:`client` wraps one with the API key.

    Attributes:
        address: ``host:port`` or ``unix:/path``.
        api_key: the API key, None for a gateway without keys.
        profile: the gateway's credentials profile ("" = its default).
        task_id: the vendor's stream task id ("" when not given).
        tls: connect with TLS (the files below imply it).
        ca_file: PEM roots that verify the gateway (None: the system's).
        cert_file: the client certificate (PEM) for mutual TLS.
        key_file: its private key (PEM).
        server_name: the name to verify the gateway's certificate against ("" = the host).
        traceparent: a W3C ``traceparent`` to send with every call ("" = none).
        tracestate: its ``tracestate`` ("" = none).
    """

    address: str = DEFAULT_ADDRESS
    api_key: str | None = None
    profile: str = ""
    task_id: str = ""
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str = ""
    traceparent: str = ""
    tracestate: str = ""

    @classmethod
    def from_env(
        cls,
        *,
        address: str | None = None,
        api_key: str | None = None,
        profile: str | None = None,
        task_id: str | None = None,
        tls: bool | None = None,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        server_name: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Connection:
        """Each field from its argument when not None, else its ``DHGW_*`` variable, else default.

        ``environ`` replaces ``os.environ`` (tests).

        Raises:
            ValueError: ``DHGW_TLS`` is not a boolean word, a client certificate comes
                without its key (or the other way round), or TLS files are given with
                ``tls=False``.
        """
        env = os.environ if environ is None else environ

        def pick(given: str | None, name: str) -> str | None:
            return given if given is not None else (env.get(name) or None)

        ca = pick(ca_file, "DHGW_TLS_CA_FILE")
        cert = pick(cert_file, "DHGW_TLS_CLIENT_CERT_FILE")
        key = pick(key_file, "DHGW_TLS_CLIENT_KEY_FILE")
        if (cert is None) != (key is None):
            raise ValueError("a client certificate needs its key, and a key its certificate")
        files = any(path is not None for path in (ca, cert, key))
        wanted = tls if tls is not None else _boolean(env.get("DHGW_TLS", ""), "DHGW_TLS")
        if tls is False and files:
            raise ValueError("TLS files were given with tls=False")
        return cls(
            address=pick(address, "DHGW_ADDRESS") or DEFAULT_ADDRESS,
            api_key=pick(api_key, "DHGW_API_KEY"),
            profile=pick(profile, "DHGW_PROFILE") or "",
            task_id=pick(task_id, "DHGW_TASK_ID") or "",
            tls=wanted or files,
            ca_file=ca,
            cert_file=cert,
            key_file=key,
            server_name=pick(server_name, "DHGW_TLS_SERVER_NAME") or "",
            traceparent=env.get("TRACEPARENT", "").strip(),
            tracestate=env.get("TRACESTATE", "").strip(),
        )

    @property
    def metadata(self) -> Metadata | None:
        """The call metadata: the API key, the trace context (None without either). The
        gateway ignores a malformed trace context (a new trace), so it is sent as given."""
        metadata = [("authorization", f"Bearer {self.api_key}")] if self.api_key else []
        if self.traceparent:
            metadata.append(("traceparent", self.traceparent))
            if self.tracestate:
                metadata.append(("tracestate", self.tracestate))
        return metadata or None

    def credentials(self) -> grpc.ChannelCredentials | None:
        """The channel's TLS credentials (None: plaintext).

        Raises:
            OSError: a certificate file cannot be read.
        """
        if not self.tls:
            return None
        return grpc.ssl_channel_credentials(
            _read(self.ca_file), _read(self.key_file), _read(self.cert_file)
        )

    def channel(self) -> grpc.aio.Channel:
        """A new asyncio channel to the gateway; the caller closes it.

        Raises:
            OSError: a certificate file cannot be read.
        """
        credentials = self.credentials()
        if credentials is None:
            return grpc.aio.insecure_channel(self.address)
        options = [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []
        return grpc.aio.secure_channel(self.address, credentials, options=options)

    def client(self, channel: grpc.aio.Channel) -> DriveGatewayClient:
        """A client on ``channel`` that sends the API key with every call."""
        return DriveGatewayClient(channel, metadata=self.metadata)


def _boolean(value: str, name: str) -> bool:
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"{name}={value!r} is not on/off")


def _read(path: str | None) -> bytes | None:
    return None if path is None else Path(path).read_bytes()
