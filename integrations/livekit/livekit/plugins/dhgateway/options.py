"""The keyword arguments that :class:`DHGatewayAudioOutput` and ``AvatarSession`` share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

import grpc
from dhgateway_client.config import PolicyName
from dhgateway_client.connection import Connection


class OutputOptions(TypedDict, total=False):
    """How to reach the gateway and how to drive; every key may be left out.

    Attributes:
        task_id: the vendor's stream task whose avatar speaks (else ``DHGW_TASK_ID``).
        address: the gateway's ``host:port`` (else ``DHGW_ADDRESS``, else 127.0.0.1:50051).
        api_key: the gateway's API key (else ``DHGW_API_KEY``).
        profile: the gateway's credentials profile (else ``DHGW_PROFILE``).
        tls: connect with TLS (else ``DHGW_TLS``, or on with ``ca_file``).
        ca_file: PEM roots that verify the gateway (else ``DHGW_TLS_CA_FILE``).
        connection: all of the above at once, instead (``Connection.from_env(...)``).
        channel: a gRPC channel to use, left open, instead of one the output opens.
        on_conflict: what the gateway does when another client's drive holds the task:
            ``REJECT`` (default: the segment fails, TASK_BUSY), ``PREEMPT`` or ``QUEUE``.
        setup_timeout_s: how long a drive may wait to be started or queued (default 10 s).
        labels: sent with every drive; the gateway logs and lists them.
    """

    task_id: str
    address: str
    api_key: str
    profile: str
    tls: bool
    ca_file: str
    connection: Connection
    channel: grpc.aio.Channel
    on_conflict: PolicyName
    setup_timeout_s: float
    labels: Mapping[str, str]


def connection_of(options: OutputOptions) -> Connection:
    """The connection ``options`` describe, the missing parts from the ``DHGW_*`` variables.

    Raises:
        ValueError: no task id, or a bad ``DHGW_*`` value.
    """
    connection = options.get("connection") or Connection.from_env(
        task_id=options.get("task_id"),
        address=options.get("address"),
        api_key=options.get("api_key"),
        profile=options.get("profile"),
        tls=options.get("tls"),
        ca_file=options.get("ca_file"),
    )
    if not connection.task_id:
        raise ValueError("give the avatar's task as task_id= or in DHGW_TASK_ID")
    return connection
