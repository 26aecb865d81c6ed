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

from gateway.errors import ConfigError

__all__ = ["MetricsServer", "split_listen"]


def split_listen(listen: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) as (host, port).

    Raises:
        ConfigError: not a host and a port in 0-65535.
    """
    host, sep, port_text = listen.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigError(f"metrics_listen must be host:port, got {listen!r}")
    return host, int(port_text)


class MetricsServer:
    """Serves one registry and the health checks on one address until :meth:`stop`.

    Args:
        registry: the metrics to expose.
        ready: whether the gateway takes new drives now (for ``/readyz``).
    """

    def __init__(self, registry: CollectorRegistry, ready: Callable[[], bool]) -> None:
        self._registry = registry
        self._ready = ready
        self._runner: web.AppRunner | None = None
        self.address = ""
        """Where it listens (host:port, the real port when 0 was asked), once started."""

    async def start(self, listen: str) -> str:
        """Bind ``listen`` (port 0 picks a free one) and serve; returns the bound address.

        Raises:
            ConfigError: ``listen`` is malformed, or cannot be bound (in use, not ours).
        """
        if self._runner is not None:
            raise RuntimeError("the metrics server is already running")
        host, port = split_listen(listen)
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(
                f"metrics_listen {listen!r} cannot be bound: {exc.strerror or exc}"
            ) from exc
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.address = f"{shown}:{bound_port}"
        return self.address

    async def stop(self) -> None:
        """Stop serving; safe to call more than once."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

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
