"""The operator's HTTP endpoint: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz``.

* ``/metrics``: the app's own registry, in the text format or OpenMetrics (by ``Accept``).
* ``/healthz``: 200 while the process serves HTTP at all (liveness).
* ``/readyz``: 200 while the gateway takes new drives, 503 once it drains (readiness): a load
  balancer stops sending drives before the gRPC listener goes away.

Scrapes are not access-logged: one line every few seconds would drown the drives' lines.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from gateway.web import Site

__all__ = ["MetricsServer"]


class MetricsServer:
    """Serves one registry and the health checks on one address until :meth:`stop`.

    Args:
        registry: the metrics to expose.
        ready: whether the gateway takes new drives now (for ``/readyz``).
    """

    def __init__(self, registry: CollectorRegistry, ready: Callable[[], bool]) -> None:
        self._registry = registry
        self._ready = ready
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        self._site = Site(app)

    @property
    def address(self) -> str:
        """Where it listens (host:port, the real port when 0 was asked), once started."""
        return self._site.address

    async def start(self, listen: str) -> str:
        """Bind ``listen`` (port 0 picks a free one) and serve; returns the bound address.

        Raises:
            ConfigError: ``listen`` is malformed, or cannot be bound (in use, not ours).
        """
        return await self._site.start(listen, setting="metrics_listen")

    async def stop(self) -> None:
        """Stop serving; safe to call more than once."""
        await self._site.stop()

    async def _metrics(self, request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        # On the loop, not in a thread: the live-drive gauges read the app's drive set, which
        # only the loop may touch. A registry this size renders in well under a millisecond.
        body = encoder(self._registry)
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        if self._ready():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="draining\n")
