"""``python -m gateway.simulator --app-id N --server-secret S [--port P] [--tls] [--tasks a,b]``."""

from __future__ import annotations

from .standalone import run_standalone

if __name__ == "__main__":
    raise SystemExit(run_standalone())
