"""Configuration: flags > DHGW_* environment > TOML file > defaults; every problem at once."""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from gateway.config import (
    ApiKey,
    AuthConfig,
    ConfigProblems,
    Credentials,
    GatewayConfig,
    LimitsConfig,
    ServerConfig,
    TlsConfig,
    is_local_address,
    load_config,
)
from gateway.config.dump import MASK, to_json, to_toml
from gateway.config.settings import SETTINGS, Setting
from gateway.errors import ConfigError

SECRET = "s3cret-value-never-printed"
CREDS = {"DHGW_ZEGO_APP_ID": "1234567890", "DHGW_ZEGO_SERVER_SECRET": SECRET}
DIGEST = "ab" * 32


def problems(error: pytest.ExceptionInfo[ConfigError]) -> list[str]:
    assert isinstance(error.value, ConfigProblems)
    return [str(p) for p in error.value.problems]


def write(tmp_path: Path, text: str, name: str = "gateway.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def value_at(config: GatewayConfig, setting: Setting) -> Any:
    owner: Any = config
    for part in setting.section.split(".") if setting.section else ():
        owner = getattr(owner, part)
    return getattr(owner, setting.key)


def test_defaults() -> None:
    config = load_config(CREDS)
    expected = GatewayConfig(
        profiles={"default": Credentials(app_id=1234567890, server_secret=SECRET)}
    )
    assert config == expected
    assert config.server.listen == "127.0.0.1:50051"
    assert config.server.tls is None and not config.auth.enabled


@pytest.mark.parametrize(
    ("variable", "text", "path", "value"),
    [
        ("LISTEN", "127.0.0.1:6000", "server.listen", "127.0.0.1:6000"),
        ("ZEGO_API_URL", "http://127.0.0.1:1/", "upstream.api_url", "http://127.0.0.1:1/"),
        ("ZEGO_TLS_VERIFY", "on", "upstream.tls_verify", True),
        ("RATE_LIMIT_BUDGET_S", "3.5", "upstream.rate_limit_budget_s", 3.5),
        ("PACING", "off", "pacing.enabled", False),
        ("PACING_LEAD_MS", "400", "pacing.lead_ms", 400),
        ("MAX_FRAME_MS", "40", "pacing.max_frame_ms", 40),
        ("PROGRESS_INTERVAL_MS", "250", "pacing.progress_interval_ms", 250),
        ("MAX_DRIVES", "7", "limits.max_drives", 7),
        ("IDLE_TIMEOUT_S", "2.5", "limits.idle_timeout_s", 2.5),
        ("MAX_DRIVE_S", "60", "limits.max_drive_s", 60.0),
        ("QUEUE_TIMEOUT_S", "9", "limits.queue_timeout_s", 9.0),
        ("METRICS_LISTEN", "127.0.0.1:9999", "observability.metrics_listen", "127.0.0.1:9999"),
        ("METRICS_LISTEN", "", "observability.metrics_listen", ""),  # "" turns metrics off
        ("LOG_FORMAT", "json", "observability.log_format", "json"),
        ("LOG_LEVEL", "debug", "observability.log_level", "debug"),
        ("LISTEN", "", "server.listen", "127.0.0.1:50051"),  # "" means the default
    ],
)
def test_every_existing_variable_still_works(
    variable: str, text: str, path: str, value: object
) -> None:
    config = load_config({**CREDS, f"DHGW_{variable}": text})
    section, key = path.split(".")
    assert getattr(getattr(config, section), key) == value


def test_the_secret_from_a_file_and_the_ca_file(tmp_path: Path) -> None:
    secret_file = write(tmp_path, f"{SECRET}\n", "secret")
    ca_file = write(tmp_path, "-----BEGIN CERTIFICATE-----\n", "ca.pem")
    env = {
        "DHGW_ZEGO_APP_ID": "42",
        "DHGW_ZEGO_SERVER_SECRET_FILE": str(secret_file),
        "DHGW_ZEGO_CA_FILE": str(ca_file),
    }
    config = load_config(env)
    assert config.profiles["default"] == Credentials(app_id=42, server_secret=SECRET)
    assert config.upstream.ca_file == str(ca_file)
    # The secret itself wins over the file within one source, as before.
    config = load_config({**env, "DHGW_ZEGO_SERVER_SECRET": "other"})
    assert config.profiles["default"].server_secret == "other"


def _sample(setting: Setting, tmp_path: Path) -> tuple[str, Any]:
    """A valid non-default value for ``setting``: (its text, the value it loads as)."""
    specials: dict[str, Any] = {
        "default_profile": "default",
        "listen": "127.0.0.1:6001",
        "health_listen": "127.0.0.1:6002",
        "metrics_listen": "127.0.0.1:6003",
        "api_url": "http://127.0.0.1:6004/",
        "log_format": "json",
        "event_loop": "asyncio",
        "log_level": "WARNING",
        "max_drives_per_key": 3,
        "redis_url": "redis://127.0.0.1:6005/0",
        "progress_interval_ms": 1000,
        "callback_listen": "127.0.0.1:8085",
        "format_timeout_s": 2.5,
    }
    if setting.section == "server.tls" or setting.key == "ca_file":
        path = write(tmp_path, "pem", f"{setting.key}.pem")
        return str(path), str(path)
    if setting.key in specials:
        value = specials[setting.key]
    elif setting.kind == "bool":
        value = not setting.default
    else:
        value = setting.default * 2 + (1 if setting.kind == "int" else 0.5)
    text = ("on" if value else "off") if isinstance(value, bool) else str(value)
    return text, value


def _toml_for(setting: Setting, value: Any) -> str:
    literal = json.dumps(value) if not isinstance(value, bool) else str(value).lower()
    header = f"[{setting.section}]\n" if setting.section else ""
    return f"{header}{setting.key} = {literal}\n"


@pytest.mark.parametrize("setting", SETTINGS, ids=[s.path for s in SETTINGS])
def test_every_setting_from_toml_env_and_flag(setting: Setting, tmp_path: Path) -> None:
    text, value = _sample(setting, tmp_path)
    tls = {"DHGW_TLS_CERT_FILE": text, "DHGW_TLS_KEY_FILE": text}
    env = {**CREDS, **(tls if setting.section == "server.tls" else {})}
    if setting.key == "reuse_port":  # only valid with a shared registry
        env["DHGW_REDIS_URL"] = "redis://127.0.0.1:6005/0"
    file = write(tmp_path, _toml_for(setting, value))
    assert value_at(load_config(env, config_file=file), setting) == value
    assert value_at(load_config({**env, setting.variable: text}), setting) == value
    assert value_at(load_config(env, **{setting.dest: text}), setting) == value


def test_flags_beat_the_environment_which_beats_the_file(tmp_path: Path) -> None:
    file = write(tmp_path, "[limits]\nmax_drives = 5\nidle_timeout_s = 4\n")
    env = {**CREDS, "DHGW_MAX_DRIVES": "6"}
    config = load_config(env, config_file=file, max_drives="7")
    assert (config.limits.max_drives, config.limits.idle_timeout_s) == (7, 4.0)
    assert load_config(env, config_file=file).limits.max_drives == 6
    assert load_config(CREDS, config_file=file).limits.max_drives == 5
    # The file may also come from DHGW_CONFIG.
    assert load_config({**CREDS, "DHGW_CONFIG": str(file)}).limits.max_drives == 5


def test_a_whole_file_with_profiles_keys_and_tls(tmp_path: Path) -> None:
    b_secret = write(tmp_path, "secret-of-b\n", "b.secret")
    cert, key, clients = (write(tmp_path, "pem", n) for n in ("c.pem", "k.pem", "ca.pem"))
    file = write(
        tmp_path,
        f"""
        default_profile = "a"

        [server]
        listen = "0.0.0.0:50051"
        drain_timeout_s = 25

        [server.tls]
        cert_file = "{cert}"
        key_file = "{key}"
        client_ca_file = "{clients}"

        [profiles.a]
        app_id = 1
        server_secret = "secret-of-a"

        [profiles.b]
        app_id = 2
        server_secret_file = "{b_secret}"

        [[auth.api_keys]]
        name = "frontend"
        sha256 = "{DIGEST.upper()}"
        profiles = ["a"]
        tasks = ["room-*", "lobby"]
        max_drives = 10

        [[auth.api_keys]]
        name = "ops"
        sha256 = "{"cd" * 32}"
        """,
    )
    config = load_config({}, config_file=file)
    assert config.default_profile == "a"
    assert config.profiles == {
        "a": Credentials(app_id=1, server_secret="secret-of-a"),
        "b": Credentials(app_id=2, server_secret="secret-of-b"),
    }
    assert config.server.tls == TlsConfig(
        cert_file=str(cert), key_file=str(key), client_ca_file=str(clients)
    )
    frontend, ops = config.auth.api_keys
    assert frontend == ApiKey(
        name="frontend", sha256=DIGEST, profiles=("a",), tasks=("room-*", "lobby"), max_drives=10
    )
    assert (ops.profiles, ops.tasks, ops.max_drives) == (("*",), ("*",), None)
    # The environment's credentials go to the default profile ("a" here).
    config = load_config({"DHGW_ZEGO_APP_ID": "99"}, config_file=file)
    assert config.profiles["a"] == Credentials(app_id=99, server_secret="secret-of-a")
    # DHGW_API_KEY_SHA256 replaces the file's keys with unrestricted ones.
    config = load_config({"DHGW_API_KEY_SHA256": f" {'ef' * 32} ,{'01' * 32}"}, config_file=file)
    assert [(k.name, k.sha256[:2]) for k in config.auth.api_keys] == [
        ("env-1", "ef"),
        ("env-2", "01"),
    ]


def test_every_problem_is_reported_at_once_with_its_source(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        """
        [limits]
        max_drives = 0
        idle_timeout = 3

        [pacing]
        enabled = "yes please"

        [colour]
        red = 1

        [[auth.api_keys]]
        name = "k"
        sha256 = "not-hex"
        profiles = ["nope"]
        """,
    )
    env = {
        **CREDS,
        "DHGW_QUEUE_TIMEOUT_S": "soon",
        "DHGW_LOG_FORMAT": "xml",
        "DHGW_EVENT_LOOP": "trio",
    }
    with pytest.raises(ConfigError) as caught:
        load_config(env, config_file=file, keepalive_time_s="-1")
    found = problems(caught)
    text = "\n".join(found).replace(str(file), "FILE")
    # One line each, naming the setting and where its value came from.
    for expected in (
        "colour is not a setting (in FILE)",
        "limits.idle_timeout is not a setting (in FILE)",
        "limits.queue_timeout_s (DHGW_QUEUE_TIMEOUT_S) must be a number, got 'soon'",
        "pacing.enabled (in FILE) must be on or off, got 'yes please'",
        "server.keepalive_time_s (--keepalive-time-s) must be a positive number, got -1.0",
        "limits.max_drives (in FILE) must be a positive number, got 0",
        "observability.log_format (DHGW_LOG_FORMAT) must be auto, json or console, got 'xml'",
        "server.event_loop (DHGW_EVENT_LOOP) must be uvloop or asyncio, got 'trio'",
        "auth.api_keys[0].sha256 (in FILE) must be 64 lowercase hex digits",
    ):
        assert expected in text, text
    assert len(found) == 9, text


@pytest.mark.parametrize("value", ["249", "1001"])
def test_the_progress_interval_stays_within_the_contract(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({**CREDS, "DHGW_PROGRESS_INTERVAL_MS": value})
    assert problems(caught) == [
        "pacing.progress_interval_ms (DHGW_PROGRESS_INTERVAL_MS) must be between 250 and 1000 "
        "(the contract's bounds)"
    ]


def test_an_unreadable_file_is_one_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(CREDS, config_file=write(tmp_path, "[limits\n"))
    (only,) = problems(caught)
    assert only.startswith(f"config file {tmp_path / 'gateway.toml'} cannot be read")
    with pytest.raises(ConfigError) as caught:
        load_config(CREDS, config_file=tmp_path / "missing.toml")
    assert len(problems(caught)) == 1


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "no credentials for the default profile 'default'"),
        ({"DHGW_ZEGO_APP_ID": "1"}, "profiles.default needs both an app_id and a server_secret"),
        ({"DHGW_ZEGO_SERVER_SECRET": "x"}, "profiles.default needs both"),
        ({**CREDS, "DHGW_ZEGO_APP_ID": "12ab"}, "profiles.default.app_id (DHGW_ZEGO_*) must be"),
        ({**CREDS, "DHGW_ZEGO_APP_ID": "0"}, "profiles.default.app_id (DHGW_ZEGO_*) must be a"),
        (
            {"DHGW_ZEGO_APP_ID": "1", "DHGW_ZEGO_SERVER_SECRET_FILE": "/no/such/file"},
            "profiles.default.server_secret_file (DHGW_ZEGO_*) cannot be read",
        ),
        ({"DHGW_DEFAULT_PROFILE": "b"}, "no credentials for the default profile 'b'"),
    ],
)
def test_credential_problems(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env)
    (only,) = problems(caught)
    assert only.startswith(expected), only
    assert SECRET not in only


@pytest.mark.parametrize(
    ("listen", "local"),
    [
        ("127.0.0.1:1", True),
        ("127.8.9.10:1", True),
        ("localhost:1", True),
        ("[::1]:1", True),
        ("unix:/run/dhgw.sock", True),
        ("0.0.0.0:1", False),
        ("[::]:1", False),
        ("10.0.0.5:1", False),
        ("gateway.internal:1", False),
    ],
)
def test_which_addresses_are_local(listen: str, local: bool) -> None:
    assert is_local_address(listen) is local


def test_an_open_listener_needs_tls_or_keys_or_a_waiver(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(CREDS, listen="0.0.0.0:50051")
    (only,) = problems(caught)
    assert only.startswith("server.listen (--listen) '0.0.0.0:50051' is reachable from other")
    assert "--allow-insecure" in only
    assert load_config(CREDS, listen="0.0.0.0:50051", allow_insecure="on").server.allow_insecure
    assert load_config({**CREDS, "DHGW_API_KEY_SHA256": DIGEST}, listen="[::]:1").auth.enabled
    pem = write(tmp_path, "pem", "x.pem")
    config = load_config(CREDS, listen="0.0.0.0:1", tls_cert_file=str(pem), tls_key_file=str(pem))
    assert config.server.tls is not None
    with pytest.raises(ConfigError) as caught:
        load_config(CREDS, tls_cert_file=str(pem))
    assert problems(caught) == ["server.tls.key_file is required to serve TLS"]
    with pytest.raises(ConfigError) as caught:
        load_config(CREDS, tls_cert_file="/no/cert", tls_key_file=str(pem))
    assert problems(caught) == ["server.tls.cert_file (--tls-cert-file) '/no/cert' does not exist"]


def test_dataclasses_validate_themselves() -> None:
    creds = {"default": Credentials(app_id=1, server_secret="s")}
    with pytest.raises(ConfigError, match="listen must be host:port"):
        ServerConfig(listen="nowhere")
    with pytest.raises(ConfigError, match="listen needs a path"):
        ServerConfig(listen="unix:")
    with pytest.raises(ConfigError) as caught:
        LimitsConfig(max_drives=0, idle_timeout_s=float("nan"))
    assert [p.field for p in caught.value.problems] == ["idle_timeout_s", "max_drives"]  # type: ignore[attr-defined]
    key = ApiKey(name="k", sha256=DIGEST)
    with pytest.raises(ConfigError, match="two keys with the name 'k'"):
        AuthConfig(api_keys=(key, dataclasses.replace(key, sha256="cd" * 32)))
    with pytest.raises(ConfigError, match=r"two keys with the sha256 'abababab\.\.\.'"):
        AuthConfig(api_keys=(key, dataclasses.replace(key, name="other")))
    with pytest.raises(ConfigError, match="tasks must list non-empty"):
        ApiKey(name="k", sha256=DIGEST, tasks=("",))
    with pytest.raises(ConfigError, match="unknown profile 'x'"):
        GatewayConfig(
            profiles=creds,
            auth=AuthConfig(api_keys=(ApiKey(name="k", sha256=DIGEST, profiles=("x",)),)),
        )
    with pytest.raises(ConfigError, match="not a valid profile name"):
        GatewayConfig(profiles={**creds, "a b": Credentials(app_id=1, server_secret="s")})
    with pytest.raises(TypeError, match="unknown settings"):
        load_config(CREDS, max_drivez=1)


def test_for_test_still_takes_keyword_overrides() -> None:
    config = GatewayConfig.for_test(
        app_id=1, server_secret="s", api_url="http://127.0.0.1:1/", limits=LimitsConfig()
    )
    assert config.server.listen == "127.0.0.1:0"
    assert config.limits == LimitsConfig()
    assert config.replace(server=ServerConfig(listen="[::1]:0")).server.listen == "[::1]:0"
    with pytest.raises(ConfigError, match="reachable from other machines"):
        config.replace(server=ServerConfig(listen="0.0.0.0:0"))


def test_the_dump_masks_secrets_and_reads_back(tmp_path: Path) -> None:
    pem = write(tmp_path, "pem", "x.pem")
    config = load_config(
        {**CREDS, "DHGW_API_KEY_SHA256": DIGEST, "DHGW_METRICS_LISTEN": ""},
        listen="0.0.0.0:1",
        tls_cert_file=str(pem),
        tls_key_file=str(pem),
        max_drives_per_key="4",
    )
    masked = to_toml(config)
    assert SECRET not in masked and DIGEST not in masked
    parsed = tomllib.loads(masked)
    assert parsed["profiles"]["default"] == {"app_id": 1234567890, "server_secret": MASK}
    assert parsed["auth"]["api_keys"][0]["sha256"] == DIGEST[:8] + "..."
    as_json = json.loads(to_json(config))
    assert as_json["server"]["tls"]["client_ca_file"] is None
    assert as_json["observability"]["metrics_listen"] == ""
    assert SECRET not in to_json(config)
    # Unmasked, the dump is a configuration file that gives the same configuration.
    file = write(tmp_path, to_toml(config, mask=False))
    assert load_config({}, config_file=file) == config
    defaults = load_config(CREDS)
    assert load_config({}, config_file=write(tmp_path, to_toml(defaults, mask=False))) == defaults


def test_profile_names_are_quoted_when_they_need_it(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        '[profiles."tenant.b"]\napp_id = 2\nserver_secret = "x"\n'
        '[profiles.default]\napp_id = 1\nserver_secret = "y"\n',
    )
    config = load_config({}, config_file=file)
    assert set(config.profiles) == {"default", "tenant.b"}
    assert load_config({}, config_file=write(tmp_path, to_toml(config, mask=False))) == config


def test_the_documented_example_is_a_valid_configuration(tmp_path: Path) -> None:
    doc = (Path(__file__).parent.parent / "docs/configuration.md").read_text(encoding="utf-8")
    example = re.search(r"```toml\n(.*?)```", doc, re.DOTALL)
    assert example, "docs/configuration.md has a TOML example"
    files: dict[str, Path] = {}

    def local(match: re.Match[str]) -> str:
        path = files.setdefault(match.group(1), tmp_path / f"file{len(files)}")
        path.write_text("secret\n")
        return json.dumps(str(path))

    text = re.sub(r'"(/(?:etc|run)/[^"]+)"', local, example.group(1))
    config = load_config({}, config_file=write(tmp_path, text))
    assert set(config.profiles) == {"tenant-a", "tenant-b"}
    assert config.server.tls is not None and config.server.tls.client_ca_file is not None
    assert [k.name for k in config.auth.api_keys] == ["web-app", "ops"]


def test_sharing_a_port_needs_a_shared_registry() -> None:
    with pytest.raises(ConfigError, match=r"server.reuse_port \(DHGW_REUSE_PORT\) needs redis_url"):
        load_config({**CREDS, "DHGW_REUSE_PORT": "on"})
    with pytest.raises(ConfigError, match="host:port listeners"):
        load_config(
            {**CREDS, "DHGW_REUSE_PORT": "on", "DHGW_REDIS_URL": "redis://127.0.0.1:1/0"},
            listen="unix:/tmp/x.sock",
        )
    with pytest.raises(ConfigError, match="host:port listeners"):
        load_config(
            {**CREDS, "DHGW_REUSE_PORT": "on", "DHGW_REDIS_URL": "redis://127.0.0.1:1/0"},
            health_listen="unix:/tmp/health.sock",
        )


def test_admission_thresholds_may_be_off_but_not_negative() -> None:
    off = load_config({**CREDS, "DHGW_ADMIT_MAX_CPU": "0", "DHGW_ADMIT_MAX_LOOP_LAG_MS": "0"})
    assert (off.limits.admit_max_cpu, off.limits.admit_max_loop_lag_ms) == (0, 0)
    with pytest.raises(ConfigError, match="admit_max_cpu"):
        load_config({**CREDS, "DHGW_ADMIT_MAX_CPU": "-1"})


def test_the_callback_secret_comes_from_env_a_file_or_toml_and_is_masked(tmp_path: Path) -> None:
    config = load_config({**CREDS, "DHGW_ZEGO_CALLBACK_SECRET": "cb-secret-1"})
    assert config.profiles["default"].callback_secret == "cb-secret-1"
    assert "cb-secret-1" not in to_toml(config) and "cb-secret-1" not in repr(config)
    assert load_config({}, config_file=write(tmp_path, to_toml(config, mask=False))) == config
    secret_file = write(tmp_path, "cb-secret-2\n", "callback.secret")
    from_file = load_config({**CREDS, "DHGW_ZEGO_CALLBACK_SECRET_FILE": str(secret_file)})
    assert from_file.profiles["default"].callback_secret == "cb-secret-2"
    assert load_config(CREDS).profiles["default"].callback_secret == ""
    with pytest.raises(ConfigProblems, match="callback_secret_file"):
        load_config({**CREDS, "DHGW_ZEGO_CALLBACK_SECRET_FILE": str(tmp_path / "missing")})


def test_a_profiles_default_timbre_comes_from_env_or_toml_and_is_dumped(tmp_path: Path) -> None:
    config = load_config({**CREDS, "DHGW_ZEGO_DEFAULT_TIMBRE_ID": "zh_female_1"})
    assert config.profiles["default"].default_timbre_id == "zh_female_1"
    assert 'default_timbre_id = "zh_female_1"' in to_toml(config)
    assert load_config({}, config_file=write(tmp_path, to_toml(config, mask=False))) == config
    assert load_config(CREDS).profiles["default"].default_timbre_id == ""
    file = write(
        tmp_path, '[profiles.default]\napp_id = 1\nserver_secret = "y"\ndefault_timbre_id = 3\n'
    )
    with pytest.raises(ConfigProblems, match=r"profiles.default.default_timbre_id .* must be text"):
        load_config({}, config_file=file)


def test_a_profiles_max_idle_time_comes_from_env_is_checked_and_dumped() -> None:
    assert load_config(CREDS).profiles["default"].max_idle_time_s == 900.0
    config = load_config({**CREDS, "DHGW_ZEGO_MAX_IDLE_TIME_S": "60"})
    assert config.profiles["default"].max_idle_time_s == 60.0
    assert tomllib.loads(to_toml(config))["profiles"]["default"]["max_idle_time_s"] == 60.0
    for bad in ("10", "100000", "soon"):
        with pytest.raises(ConfigError) as caught:
            load_config({**CREDS, "DHGW_ZEGO_MAX_IDLE_TIME_S": bad})
        assert "max_idle_time_s" in str(caught.value)
