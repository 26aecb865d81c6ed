"""The optional dependencies (pyproject's extras, uvloop's platform marker) are optional indeed.

Each case runs in a fresh interpreter, so that what it imports is its own. "Not installed" is
a ``sys.meta_path`` finder that refuses the package, as a venv without it would: this venv has
every extra (``.[dev]``), and uninstalling one would break the tests running beside this one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

#: A fresh interpreter importing the gateway and starting it takes about a second.
RUN_TIMEOUT_S = 60

#: Prepended to a case: ``BLOCKED`` (a tuple of names) cannot be imported, as if not installed.
BLOCKER = """
import importlib.abc, sys

class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
"""

CREDS = {"DHGW_ZEGO_APP_ID": "1234567890", "DHGW_ZEGO_SERVER_SECRET": "not-a-real-secret"}


def python(
    code: str, *, blocked: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with ``blocked`` not importable; the result."""
    prelude = f"BLOCKED = {blocked!r}\n{BLOCKER}" if blocked else ""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DHGW_", "OTEL_"))}
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def test_the_blocker_stands_for_a_missing_package() -> None:
    """Else the cases below would prove nothing."""
    result = python("import redis", blocked=("redis",))
    assert result.returncode == 1
    assert "ModuleNotFoundError: No module named 'redis'" in result.stderr


def test_a_gateway_without_redis_url_drives_without_redis_or_trustme() -> None:
    """The app, its server and the simulator (plain TCP) start and drive; neither extra loads."""
    result = python("""
        import asyncio, sys
        from gateway.testing import running_gateway

        async def main():
            async with running_gateway() as h:
                events = [e async for e in h.client.drive("task-extras", [bytes(3200)])]
                assert events, "no event"

        asyncio.run(main())
        loaded = sorted({m.split(".")[0] for m in sys.modules} & {"redis", "trustme"})
        print("loaded:", loaded)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "loaded: []"


def test_importing_the_cli_and_the_app_loads_no_extra() -> None:
    result = python("""
        import sys
        import gateway.cli, gateway.service.app, gateway.service.server, gateway.simulator
        print(sorted({m.split(".")[0] for m in sys.modules} & {"redis", "trustme"}))
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_redis_url_without_redis_is_a_config_error_naming_the_extra() -> None:
    env = {**CREDS, "DHGW_REDIS_URL": "redis://127.0.0.1:1/0", "DHGW_LISTEN": "127.0.0.1:0"}
    result = python(
        "import sys; from gateway.cli import main; sys.exit(main(['serve']))",
        blocked=("redis",),
        env=env,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1] == (
        "dh-gateway: configuration error: server.redis_url needs redis-py, which is not "
        "installed: pip install 'dh-gateway[redis]'"
    )


def test_the_simulator_with_tls_without_trustme_says_which_extra() -> None:
    result = python(
        "import sys; from gateway.cli import main; "
        "sys.exit(main(['simulator', '--tls', '--app-id', '1', '--server-secret', 's']))",
        blocked=("trustme",),
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1].endswith(
        "error: the simulator's TLS needs trustme, which is not installed: "
        "pip install 'dh-gateway[simulator]'"
    )


@pytest.mark.parametrize("blocked", [(), ("uvloop",)])
def test_uvloop_runs_on_asyncio_where_it_is_not_installed(blocked: tuple[str, ...]) -> None:
    result = python(
        """
        import asyncio
        from gateway.loops import run_loop

        async def main():
            return type(asyncio.get_running_loop()).__module__

        print(run_loop(main(), "uvloop"))
        """,
        blocked=blocked,
    )
    assert result.returncode == 0, result.stderr
    if blocked:
        assert result.stdout.strip().startswith("asyncio.")
        assert "uvloop is not installed here, running on asyncio's" in result.stderr
    else:
        assert result.stdout.strip().startswith("uvloop")
        assert result.stderr == ""
