"""A gateway with its metrics endpoint and RPC interceptor on, and helpers to read them.

:func:`observed_gateway` is :func:`gateway.testing.running_gateway` plus what operators see:
``/metrics`` on a free loopback port and the RPC interceptor installed as ``dh-gateway serve``
installs it. With ``proxy=True`` the vendor API goes through a :class:`RecordingProxy`, which
keeps every Signature and WebSocket token that crossed the wire: what the redaction test looks
for in the logs.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import grpc
from aiohttp import web
from dhgateway_client import DriveGatewayClient
from prometheus_client.parser import text_string_to_metric_families
from yarl import URL

from gateway.config import Credentials, GatewayConfig, ObservabilityConfig
from gateway.observability import interceptors_for
from gateway.service.app import GatewayApp
from gateway.service.server import start_server
from gateway.simulator import Simulator, SimulatorConfig
from gateway.testing import TEST_APP_ID, Harness

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class RecordingProxy:
    """Forwards the vendor API to the simulator; keeps each Signature and token it carried."""

    def __init__(self) -> None:
        self.target = ""
        self.signatures: list[str] = []
        self.tokens: list[str] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/", self._forward)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/"
        self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        self.signatures += request.query.getall("Signature", [])
        body = await request.read()
        url = URL(f"{self.target}?{request.query_string}", encoded=True)
        headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
        async with self._session.request(request.method, url, data=body, headers=headers) as up:
            raw = await up.read()
            status, content_type = up.status, up.content_type
        try:
            document = json.loads(raw)
        except ValueError:
            document = None
        if isinstance(document, dict) and isinstance(document.get("Data"), dict):
            address = document["Data"].get("WssAddress", "")
            self.tokens += parse_qs(urlsplit(address).query).get("Token", [])
        return web.Response(body=raw, status=status, content_type=content_type)


@dataclass
class Observed:
    """A running simulator + gateway + client, with the metrics endpoint's address."""

    harness: Harness
    metrics_url: str
    proxy: RecordingProxy | None

    @property
    def app(self) -> GatewayApp:
        return self.harness.app

    async def scrape(self) -> Samples:
        """Every sample of ``/metrics``: (name, labels) -> value."""
        status, text = await http_get(f"{self.metrics_url}/metrics")
        assert status == 200
        return parse_samples(text)


@asynccontextmanager
async def observed_gateway(
    *,
    proxy: bool = False,
    server_secret: str | None = None,
    extra_profiles: Mapping[str, str] | None = None,
    upstream: Mapping[str, Any] | None = None,
    simulator: dict[str, Any] | None = None,
    **config_changes: Any,
) -> AsyncIterator[Observed]:
    """Simulator + gateway (metrics on 127.0.0.1:0, RPC interceptor installed) + client.

    Args:
        proxy: send the vendor API through a :class:`RecordingProxy`.
        server_secret: the account's ServerSecret (default: a random one).
        extra_profiles: more credentials profiles, name -> ServerSecret (same AppId).
        upstream: :class:`UpstreamConfig` fields to change from ``for_test()``.
        simulator: extra :class:`SimulatorConfig` fields.
        config_changes: :class:`GatewayConfig` fields to change from ``for_test()``.
    """
    secret = server_secret or secrets.token_hex(16)
    sim_config = SimulatorConfig(
        app_id=TEST_APP_ID, server_secret=secret, host="127.0.0.1", port=0, **(simulator or {})
    )
    recorder = RecordingProxy() if proxy else None
    async with Simulator(sim_config) as sim:
        api_url = sim.http_url
        if recorder is not None:
            recorder.target = sim.http_url
            await recorder.start()
            api_url = recorder.url
        try:
            config = GatewayConfig.for_test(
                app_id=TEST_APP_ID, server_secret=secret, api_url=api_url
            )
            profiles = dict(config.profiles)
            for name, other in (extra_profiles or {}).items():
                profiles[name] = Credentials(app_id=TEST_APP_ID, server_secret=other)
            config_changes.setdefault(
                "observability", ObservabilityConfig(metrics_listen="127.0.0.1:0")
            )
            config = dataclasses.replace(
                config,
                profiles=profiles,
                upstream=dataclasses.replace(config.upstream, **(upstream or {})),
                **config_changes,
            )
            async with GatewayApp(config) as app:
                server = await start_server(app, interceptors=interceptors_for(app.metrics))
                try:
                    async with grpc.aio.insecure_channel(server.address) as channel:
                        harness = Harness(sim, app, server, channel, DriveGatewayClient(channel))
                        yield Observed(harness, f"http://{app.metrics_address}", recorder)
                finally:
                    await server.stop(grace_s=None)
        finally:
            if recorder is not None:
                await recorder.stop()


async def http_get(url: str) -> tuple[int, str]:
    """GET ``url``: (status, body)."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


def parse_samples(text: str) -> Samples:
    """The samples of a Prometheus text exposition."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when absent (a labelled counter never incremented)."""
    return samples.get((name, frozenset(labels.items())), 0.0)
