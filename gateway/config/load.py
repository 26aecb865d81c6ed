"""Loading the configuration: flags > ``DHGW_*`` environment > TOML file > defaults.

:func:`load_config` is a pure function of the environment mapping, the flag values and the
file's contents. It collects *every* problem before giving up and raises one
:class:`~gateway.config.checks.ConfigProblems` whose lines each name the setting and where its
value came from (``limits.max_drives (DHGW_MAX_DRIVES) must be a positive number, got 0``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from gateway.config.checks import ConfigProblems, Problem
from gateway.config.model import (
    DEFAULT_MAX_IDLE_TIME_S,
    DEFAULT_PROFILE,
    Credentials,
    GatewayConfig,
    LimitsConfig,
    ObservabilityConfig,
    PacingConfig,
    ServerConfig,
    UpstreamConfig,
    cross_problems,
)
from gateway.config.security import ApiKey, AuthConfig, TlsConfig
from gateway.config.settings import (
    API_KEYS_ENV,
    BY_DEST,
    CONFIG_FILE_ENV,
    PROFILE_FLAGS,
    SETTINGS,
    Setting,
)
from gateway.errors import ConfigError

T = TypeVar("T")
_TRUE = ("1", "true", "on", "yes")
_FALSE = ("0", "false", "off", "no")
_PROFILE_KEYS = (
    "app_id",
    "server_secret",
    "server_secret_file",
    "callback_secret",
    "callback_secret_file",
    "default_timbre_id",
    "max_idle_time_s",
)
_API_KEY_FIELDS = ("name", "sha256", "profiles", "tasks", "max_drives")


class _Invalid(Exception):
    """A value of the wrong type; the message completes '<setting> (<source>) ...'."""


def _convert(setting: Setting, raw: Any) -> Any:
    """``raw`` (text from a variable or flag, or a TOML value) as the setting's type."""
    kind = setting.kind
    if isinstance(raw, str) and kind != "str":
        text = raw.strip()
        if setting.optional and text == "":
            return None
        if kind == "bool":
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise _Invalid(f"must be on or off, got {raw!r}")
        try:
            return int(text) if kind == "int" else float(text)
        except ValueError:
            kind_name = "an integer" if kind == "int" else "a number"
            raise _Invalid(f"must be {kind_name}, got {raw!r}") from None
    if isinstance(raw, str):
        return None if setting.optional and raw == "" else raw
    if isinstance(raw, bool) is (kind == "bool"):
        if kind == "bool":
            return raw
        if isinstance(raw, int):
            return float(raw) if kind == "float" else raw
        if isinstance(raw, float) and kind == "float":
            return raw
    kind_name = {"int": "an integer", "float": "a number", "bool": "on or off"}.get(kind, "text")
    raise _Invalid(f"must be {kind_name}, got {raw!r}")


class _Loader:
    """One load: the sources, the values found, where each came from, and the problems."""

    def __init__(self, env: Mapping[str, str], flags: Mapping[str, Any], file: str | None):
        self.env = env
        self.flags = flags
        self.file = file
        self.toml: dict[str, Any] = {}
        self.sources: dict[str, str] = {}
        self.problems: list[str] = []
        #: Profiles that were configured but had problems (reported already).
        self.failed_profiles: set[str] = set()

    # Sources.

    def read_file(self) -> bool:
        if self.file is None:
            return True
        try:
            self.toml = tomllib.loads(Path(self.file).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            self.problems.append(f"config file {self.file} cannot be read: {exc}")
            return False
        return True

    def _toml_at(self, dotted: str) -> Any:
        node: Any = self.toml
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def lookup(self, setting: Setting) -> tuple[Any, str] | None:
        """The winning raw value of ``setting`` and its source, or None (the default)."""
        flag = self.flags.get(setting.dest)
        if flag is not None:
            return flag, setting.option
        value = self.env.get(setting.variable)
        if value is not None and (value != "" or setting.empty_is_value):
            return value, setting.variable
        value = self._toml_at(setting.path)
        if value is not None:
            return value, f"in {self.file}"
        return None

    # Problems.

    def problem(self, path: str, message: str) -> None:
        source = self.sources.get(path)
        self.problems.append(f"{path} ({source}) {message}" if source else f"{path} {message}")

    def build(self, prefix: str, make: Callable[[], T]) -> T | None:
        """``make()``, with the problems it raises recorded under ``prefix``; None on failure."""
        try:
            return make()
        except ConfigProblems as exc:
            for item in exc.problems:
                path = ".".join(p for p in (prefix, item.field) if p)
                if path:
                    self.problem(path, item.message)
                else:
                    self.problems.append(item.message)
        except ConfigError as exc:
            self.problems.append(f"{prefix}: {exc.message}" if prefix else exc.message)
        return None

    # The pieces.

    def check_unknown_keys(self) -> None:
        known: dict[str, set[str]] = {}
        for setting in SETTINGS:
            known.setdefault(setting.section, set()).add(setting.key)
        known[""] |= {"server", "upstream", "pacing", "limits", "observability"}
        known[""] |= {"profiles", "auth"}
        known["server"].add("tls")
        known["auth"] = {"api_keys"}
        for section, keys in known.items():
            table = self._toml_at(section) if section else self.toml
            if table is None:
                continue
            if not isinstance(table, dict):
                self.problems.append(f"{section} must be a table in {self.file}")
                continue
            for key in sorted(set(table) - keys):
                where = f"{section}.{key}" if section else key
                self.problems.append(f"{where} is not a setting (in {self.file})")

    def scalars(self) -> dict[str, dict[str, Any]]:
        values: dict[str, dict[str, Any]] = {}
        for setting in SETTINGS:
            found = self.lookup(setting)
            if found is None:
                continue
            raw, source = found
            self.sources[setting.path] = source
            try:
                values.setdefault(setting.section, {})[setting.key] = _convert(setting, raw)
            except _Invalid as exc:
                self.problem(setting.path, str(exc))
        return values

    def profiles(self, default_profile: str) -> dict[str, Credentials]:
        tables = self._toml_at("profiles") or {}
        if not isinstance(tables, dict):
            self.problems.append(f"profiles must be a table of tables in {self.file}")
            tables = {}
        layers: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for name, table in tables.items():
            if not isinstance(table, dict):
                self.problems.append(f"profiles.{name} must be a table in {self.file}")
                continue
            for key in sorted(set(table) - set(_PROFILE_KEYS)):
                self.problems.append(f"profiles.{name}.{key} is not a setting (in {self.file})")
            layers[name] = [(f"in {self.file}", table)]
        env_layer = {
            key: self.env[f"DHGW_ZEGO_{key.upper()}"]
            for key in _PROFILE_KEYS
            if self.env.get(f"DHGW_ZEGO_{key.upper()}")
        }
        flag_layer = {
            flag.removeprefix("zego_"): self.flags[flag]
            for flag in PROFILE_FLAGS
            if self.flags.get(flag) is not None
        }
        default_layers = layers.setdefault(default_profile, [])
        if env_layer:
            default_layers.insert(0, ("DHGW_ZEGO_*", env_layer))
        if flag_layer:
            default_layers.insert(0, ("--zego-*", flag_layer))
        profiles: dict[str, Credentials] = {}
        for name, stack in layers.items():
            if not stack:
                continue
            credentials = self._profile(name, stack)
            if credentials is None:
                self.failed_profiles.add(name)
            else:
                profiles[name] = credentials
        return profiles

    def _profile(self, name: str, stack: list[tuple[str, dict[str, Any]]]) -> Credentials | None:
        path = f"profiles.{name}"
        app_id = next(((s, t["app_id"]) for s, t in stack if "app_id" in t), None)
        secret = next(
            ((s, t) for s, t in stack if "server_secret" in t or "server_secret_file" in t), None
        )
        if app_id is None or secret is None:
            hint = (
                " (DHGW_ZEGO_APP_ID and DHGW_ZEGO_SERVER_SECRET or _SECRET_FILE)"
                if any(source.startswith(("DHGW", "--")) for source, _ in stack)
                else ""
            )
            self.problems.append(
                f"{path} needs both an app_id and a server_secret (or server_secret_file){hint}"
            )
            return None
        source, raw_id = app_id
        self.sources[f"{path}.app_id"] = source
        try:
            number = int(raw_id) if isinstance(raw_id, str | int) else None
        except ValueError:
            number = None
        if number is None or isinstance(raw_id, bool):
            self.problem(f"{path}.app_id", f"must be a number, got {raw_id!r}")
            return None
        source, table = secret
        value = table.get("server_secret")
        if not value:
            file = table["server_secret_file"]
            try:
                value = Path(str(file)).read_text(encoding="utf-8").strip()
            except OSError as exc:
                self.problems.append(f"{path}.server_secret_file ({source}) cannot be read: {exc}")
                return None
        self.sources[f"{path}.server_secret"] = source
        callback_secret = self._callback_secret(path, stack)
        if callback_secret is None:
            return None
        timbre = next(
            ((s, t["default_timbre_id"]) for s, t in stack if "default_timbre_id" in t), None
        )
        if timbre is not None:
            self.sources[f"{path}.default_timbre_id"] = timbre[0]
            if not isinstance(timbre[1], str):
                self.problem(f"{path}.default_timbre_id", f"must be text, got {timbre[1]!r}")
                return None
        idle = next(((s, t["max_idle_time_s"]) for s, t in stack if "max_idle_time_s" in t), None)
        idle_s = DEFAULT_MAX_IDLE_TIME_S
        if idle is not None:
            self.sources[f"{path}.max_idle_time_s"] = idle[0]
            try:
                idle_s = float(idle[1])
            except (TypeError, ValueError):
                self.problem(f"{path}.max_idle_time_s", f"must be seconds, got {idle[1]!r}")
                return None
        return self.build(
            path,
            lambda: Credentials(
                app_id=number,
                server_secret=str(value),
                callback_secret=callback_secret,
                default_timbre_id="" if timbre is None else timbre[1],
                max_idle_time_s=idle_s,
            ),
        )

    def _callback_secret(self, path: str, stack: list[tuple[str, dict[str, Any]]]) -> str | None:
        """The profile's callback secret ("" when none), from the first layer that has one;
        None after a problem."""
        found = next(
            ((s, t) for s, t in stack if "callback_secret" in t or "callback_secret_file" in t),
            None,
        )
        if found is None:
            return ""
        source, table = found
        value = table.get("callback_secret")
        if value is None:
            try:
                value = Path(str(table["callback_secret_file"])).read_text("utf-8").strip()
            except OSError as exc:
                self.problems.append(
                    f"{path}.callback_secret_file ({source}) cannot be read: {exc}"
                )
                return None
        self.sources[f"{path}.callback_secret"] = source
        return str(value)

    def api_keys(self) -> tuple[ApiKey, ...]:
        hashes = self.env.get(f"DHGW_{API_KEYS_ENV}", "")
        if hashes.strip():
            self.sources["auth.api_keys"] = f"DHGW_{API_KEYS_ENV}"
            digests = [h.strip().lower() for h in hashes.split(",") if h.strip()]
            keys = [
                self.build(f"auth.api_keys[{i}]", partial(ApiKey, name=f"env-{i}", sha256=digest))
                for i, digest in enumerate(digests, 1)
            ]
            return tuple(k for k in keys if k is not None)
        entries = self._toml_at("auth.api_keys") or []
        if not isinstance(entries, list):
            self.problems.append(f"auth.api_keys must be an array of tables in {self.file}")
            return ()
        found = []
        for index, entry in enumerate(entries):
            path = f"auth.api_keys[{index}]"
            if not isinstance(entry, dict):
                self.problems.append(f"{path} must be a table in {self.file}")
                continue
            for key in sorted(set(entry) - set(_API_KEY_FIELDS)):
                self.problems.append(f"{path}.{key} is not a setting (in {self.file})")
            fields = {k: v for k, v in entry.items() if k in _API_KEY_FIELDS}
            for listed in ("profiles", "tasks"):
                if listed in fields:
                    value = fields[listed]
                    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                        self.problems.append(f"{path}.{listed} must be a list of strings")
                        continue
                    fields[listed] = tuple(value)
            if isinstance(fields.get("sha256"), str):
                fields["sha256"] = fields["sha256"].strip().lower()
            for key in fields:
                self.sources[f"{path}.{key}"] = f"in {self.file}"
            try:
                key_config = self.build(path, partial(ApiKey, **fields))
            except TypeError as exc:  # a missing name or sha256, or a wrong type
                self.problems.append(f"{path} in {self.file}: {exc}")
                continue
            if key_config is not None:
                found.append(key_config)
        return tuple(found)


def load_config(
    environ: Mapping[str, str] | None = None,
    *,
    config_file: str | os.PathLike[str] | None = None,
    **flags: Any,
) -> GatewayConfig:
    """Build the configuration: ``flags`` (not None) > ``DHGW_*`` in ``environ`` > the TOML file.

    Args:
        environ: the environment (default: ``os.environ``).
        config_file: a TOML file (default: ``DHGW_CONFIG``; none when unset).
        flags: setting values by their ``dest`` (the variable's name in lower case, such as
            ``listen`` or ``max_drives``), plus ``zego_app_id`` and ``zego_server_secret_file``.

    Raises:
        ConfigProblems: every problem found, one sentence each.
    """
    env = dict(os.environ if environ is None else environ)
    unknown = set(flags) - set(BY_DEST) - set(PROFILE_FLAGS)
    if unknown:
        raise TypeError(f"load_config() got unknown settings {sorted(unknown)}")
    file = str(config_file) if config_file else env.get(f"DHGW_{CONFIG_FILE_ENV}") or None
    loader = _Loader(env, flags, file)
    if not loader.read_file():
        raise ConfigProblems([Problem("", p) for p in loader.problems])
    loader.check_unknown_keys()
    values = loader.scalars()
    tls_values = {k: v for k, v in values.get("server.tls", {}).items() if v is not None}
    tls = None
    if tls_values:
        for needed in ("cert_file", "key_file"):
            if needed not in tls_values:
                loader.problems.append(f"server.tls.{needed} is required to serve TLS")
        if "cert_file" in tls_values and "key_file" in tls_values:
            tls = loader.build("server.tls", partial(TlsConfig, **tls_values))
    server = loader.build("server", partial(ServerConfig, **values.get("server", {}), tls=tls))
    upstream = loader.build("upstream", partial(UpstreamConfig, **values.get("upstream", {})))
    pacing = loader.build("pacing", partial(PacingConfig, **values.get("pacing", {})))
    limits = loader.build("limits", partial(LimitsConfig, **values.get("limits", {})))
    observability = loader.build(
        "observability", partial(ObservabilityConfig, **values.get("observability", {}))
    )
    default_profile = str(values.get("", {}).get("default_profile", DEFAULT_PROFILE))
    profiles = loader.profiles(default_profile)
    auth = loader.build("auth", lambda: AuthConfig(api_keys=loader.api_keys()))
    names = set(profiles) | loader.failed_profiles
    for problem in cross_problems(names, default_profile, server, auth or AuthConfig(), upstream):
        if problem.field:
            loader.problem(problem.field, problem.message)
        else:
            loader.problems.append(problem.message)
    config = None
    if not loader.problems:
        assert server and upstream and pacing and limits and observability and auth
        config = loader.build(
            "",
            partial(
                GatewayConfig,
                profiles=profiles,
                default_profile=default_profile,
                server=server,
                upstream=upstream,
                pacing=pacing,
                limits=limits,
                observability=observability,
                auth=auth,
            ),
        )
    if config is None:
        raise ConfigProblems([Problem("", p) for p in loader.problems])
    return config
