"""Serving an aiohttp application on a ``host:port``: one place for binding and its errors.

The metrics endpoint and the vendor-callback receiver are both small aiohttp apps on their own
listen address; a setting that cannot be bound stops the start with a :class:`ConfigError`
naming the setting.
"""

from __future__ import annotations

import ssl

from aiohttp import web

from gateway.errors import ConfigError

__all__ = ["Site", "split_listen"]


def split_listen(listen: str, setting: str = "metrics_listen") -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) as (host, port).

    Raises:
        ConfigError: not a host and a port in 0-65535.
    """
    host, sep, port_text = listen.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigError(f"{setting} must be host:port, got {listen!r}")
    return host, int(port_text)


class Site:
    """One aiohttp application served on one address until :meth:`stop` (no access log)."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._runner: web.AppRunner | None = None
        self.address = ""
        """Where it listens (host:port, the real port when 0 was asked), once started."""

    async def start(self, listen: str, *, setting: str, tls: ssl.SSLContext | None = None) -> str:
        """Bind ``listen`` (port 0 picks a free one) and serve; returns the bound address.

        Raises:
            ConfigError: ``listen`` (the setting named ``setting``) is malformed, or cannot
                be bound (in use, not ours).
        """
        if self._runner is not None:
            raise RuntimeError(f"the {setting} server is already running")
        host, port = split_listen(listen, setting)
        runner = web.AppRunner(
            self._app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port, ssl_context=tls).start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(
                f"{setting} {listen!r} cannot be bound: {exc.strerror or exc}"
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
