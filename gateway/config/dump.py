"""The effective configuration as TOML or JSON (``dh-gateway config``), secrets masked.

The TOML uses the loader's own layout, so an unmasked dump reads back as the same
configuration. ServerSecrets print as ``***``; API key hashes are not secret, but only their
first eight digits are shown anyway (enough to tell keys apart).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from gateway.config.model import DEFAULT_MAX_IDLE_TIME_S, GatewayConfig
from gateway.config.settings import SETTINGS

MASK = "***"
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def effective(config: GatewayConfig, *, mask: bool = True) -> dict[str, Any]:
    """``config`` as nested tables in the TOML file's layout (None: unset)."""
    out: dict[str, Any] = {}
    for setting in SETTINGS:
        node = out
        if setting.section:
            for part in setting.section.split("."):
                node = node.setdefault(part, {})
        owner: Any = config
        for part in setting.section.split(".") if setting.section else ():
            owner = getattr(owner, part) if owner is not None else None
        node[setting.key] = getattr(owner, setting.key) if owner is not None else None
    out["profiles"] = {
        name: {
            "app_id": credentials.app_id,
            "server_secret": MASK if mask else credentials.server_secret,
            **(
                {"callback_secret": MASK if mask else credentials.callback_secret}
                if credentials.callback_secret
                else {}
            ),
            **(
                {"default_timbre_id": credentials.default_timbre_id}
                if credentials.default_timbre_id
                else {}
            ),
            **(
                {"max_idle_time_s": credentials.max_idle_time_s}
                if credentials.max_idle_time_s != DEFAULT_MAX_IDLE_TIME_S
                else {}
            ),
        }
        for name, credentials in config.profiles.items()
    }
    out["auth"] = {
        "api_keys": [
            {
                "name": key.name,
                "sha256": key.sha256[:8] + "..." if mask else key.sha256,
                "profiles": list(key.profiles),
                "tasks": list(key.tasks),
                "max_drives": key.max_drives,
            }
            for key in config.auth.api_keys
        ]
    }
    return out


def to_json(config: GatewayConfig, *, mask: bool = True) -> str:
    """The effective configuration as indented JSON (unset values as null)."""
    return json.dumps(effective(config, mask=mask), indent=2) + "\n"


def to_toml(config: GatewayConfig, *, mask: bool = True) -> str:
    """The effective configuration as a TOML file (unset values left out)."""
    lines: list[str] = []
    _table(lines, [], effective(config, mask=mask))
    return "\n".join(lines).lstrip("\n") + "\n"


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # JSON's escapes are TOML's; non-ASCII stays as is (UTF-8 is valid TOML).
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _table(lines: list[str], path: list[str], table: Mapping[str, Any]) -> None:
    scalars = [
        (k, v)
        for k, v in table.items()
        if v is not None and not isinstance(v, Mapping) and not _is_table_array(v)
    ]
    header = ".".join(_key(p) for p in path)
    if scalars and path:
        lines.extend(["", f"[{header}]"])
    lines.extend(f"{_key(k)} = {_value(v)}" for k, v in scalars)
    for name, value in table.items():
        if isinstance(value, Mapping):
            _table(lines, [*path, name], value)
        elif _is_table_array(value):
            for item in value:
                lines.extend(["", f"[[{'.'.join(_key(p) for p in [*path, name])}]]"])
                lines.extend(f"{_key(k)} = {_value(v)}" for k, v in item.items() if v is not None)
