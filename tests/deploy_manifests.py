"""What tests/test_deploy*.py read: the rendered Kubernetes manifests and the gateway they run.

The manifests are deploy/kubernetes's kustomize base and overlays, rendered by the pinned
kustomize of scripts/manifests.py (built on first use), plus the Secrets' placeholders
(secret.example.yaml), which no overlay applies. With ``NO_TOOL_BUILDS`` set (``make unit``,
which must stay seconds-fast) a test that renders skips while kustomize is not built yet.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config import GatewayConfig, load_config
from gateway.config.settings import API_KEYS_ENV, CONFIG_FILE_ENV, PROFILE_ENV, SETTINGS
from scripts import manifests
from tests.test_container import env_pairs, runtime

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = manifests.DEPLOY
SECRETS = "secret.example.yaml"
#: The two setups, each an overlay: one gateway in the application's Pod, a shared service.
WORKLOADS = ("sidecar", "replicas")
#: Everything that is validated: the base, the overlays and the Secrets' placeholders.
TARGETS = (*manifests.TARGETS, SECRETS)
#: Set by ``make unit``: skip rendering rather than build kustomize (a minute on a cold cache).
NO_TOOL_BUILDS = "NO_TOOL_BUILDS"


@dataclass(frozen=True)
class Workload:
    """A Pod spec, from a Deployment's template."""

    file: str
    spec: dict[str, Any]

    def containers(self) -> Iterator[dict[str, Any]]:
        """The long-running containers: app containers and native sidecars."""
        for init in self.spec.get("initContainers", []):
            assert init.get("restartPolicy") == "Always", (
                f"{self.file}: init container {init['name']} is not a sidecar"
            )
            yield init
        yield from self.spec["containers"]

    def gateway(self) -> dict[str, Any]:
        (found,) = [c for c in self.containers() if is_gateway(c)]
        return found


def is_gateway(container: dict[str, Any]) -> bool:
    return str(container["image"]).rsplit("/", 1)[-1].startswith("dh-gateway:")


@cache
def documents(name: str) -> tuple[dict[str, Any], ...]:
    """The objects of a target of :data:`TARGETS`: rendered, or the file's."""
    if name in manifests.TARGETS:
        if os.environ.get(NO_TOOL_BUILDS) and not manifests.kustomize_built():
            pytest.skip(f"{NO_TOOL_BUILDS}: kustomize not built yet (make test builds it)")
        return tuple(manifests.render(name))
    docs = yaml.safe_load_all((DEPLOY / name).read_text(encoding="utf-8"))
    return tuple(d for d in docs if d is not None)


def by_kind(name: str, kind: str) -> list[dict[str, Any]]:
    return [d for d in documents(name) if d["kind"] == kind]


def one(name: str, kind: str) -> dict[str, Any]:
    (found,) = by_kind(name, kind)
    return found


def workload(file: str) -> Workload:
    specs = []
    for doc in documents(file):
        if doc["kind"] == "Pod":
            specs.append(doc["spec"])
        elif doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
            specs.append(doc["spec"]["template"]["spec"])
    (spec,) = specs
    return Workload(file, spec)


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def container_ports(container: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container.get("ports", [])}


def port_of(listen: str) -> int:
    return int(listen.rsplit(":", 1)[1])


def secrets() -> dict[str, dict[str, str]]:
    found = {}
    for doc in documents(SECRETS):
        assert doc["kind"] == "Secret"
        assert not doc.get("data"), "stringData: placeholders a reader can see"
        found[doc["metadata"]["name"]] = dict(doc["stringData"])
    return found


def mounted_secret(workload: Workload, container: dict[str, Any], path: str) -> tuple[str, str]:
    """The (Secret, key) whose content a mounted file ``path`` is."""
    volumes = {v["name"]: v for v in workload.spec.get("volumes", [])}
    mounts = container.get("volumeMounts", [])
    holders = [m for m in mounts if path.startswith(m["mountPath"].rstrip("/") + "/")]
    assert len(holders) == 1, f"{workload.file}: {path} is in no mounted volume"
    mount = holders[0]
    assert mount.get("readOnly") is True, f"{mount['name']} must be mounted read-only"
    secret = volumes[mount["name"]].get("secret")
    assert secret is not None, f"{path} is not in a Secret volume"
    relative = path[len(mount["mountPath"].rstrip("/")) + 1 :]
    items = {i["path"]: i["key"] for i in secret.get("items", [])}
    key = items.get(relative, relative) if items else relative
    assert not items or relative in items, f"{relative} is not an item of {secret['secretName']}"
    return secret["secretName"], key


def known_variables() -> set[str]:
    """The gateway's variables: its table of settings, and the names the README documents."""
    names = {setting.variable for setting in SETTINGS}
    names |= {f"DHGW_{n}" for n in (*PROFILE_ENV, API_KEYS_ENV, CONFIG_FILE_ENV)}
    names |= set(re.findall(r"DHGW_[A-Z0-9_]+", (ROOT / "README.md").read_text("utf-8")))
    return names


def gateway_environment(file: str, files: Path) -> dict[str, str]:
    """What the gateway container's process sees: the image's ENV, then the manifest's env,
    Secret values from secret.example.yaml, and mounted files written under ``files``."""
    w = workload(file)
    g = w.gateway()
    known = secrets()
    env = {k: v for k, v in env_pairs(runtime()).items() if k.startswith("DHGW_")}
    for name, entry in env_of(g).items():
        if "value" in entry:
            value = str(entry["value"])
            if name.endswith("_FILE"):
                secret, key = mounted_secret(w, g, value)
                copy = files / f"{secret}-{key}"
                copy.write_text(known[secret][key], encoding="utf-8")
                value = str(copy)
            env[name] = value
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            assert ref["key"] in known[ref["name"]], ref
            env[name] = known[ref["name"]][ref["key"]]
    return env


def effective_config(file: str, files: Path) -> GatewayConfig:
    return load_config(environ=gateway_environment(file, files))


def quantity(value: str | int | float) -> float:
    """A Kubernetes resource quantity (``250m``, ``1``, ``512Mi``, ``1G``) as a number."""
    text = str(value)
    factors = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix in sorted(factors, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factors[suffix]
    return float(text)


def pre_stop_s(container: dict[str, Any]) -> float:
    pre_stop = container.get("lifecycle", {}).get("preStop")
    if pre_stop is None:
        return 0.0
    if "sleep" in pre_stop:
        return float(pre_stop["sleep"]["seconds"])
    command = pre_stop["exec"]["command"]
    assert command[0] == "sleep", f"unexpected preStop {command}"
    return float(command[1])


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a label selector (``matchLabels`` only, as the manifests use) picks ``labels``."""
    assert set(selector) <= {"matchLabels"}, f"unsupported selector {selector}"
    wanted: dict[str, str] = selector.get("matchLabels", {})
    return wanted.items() <= labels.items()
