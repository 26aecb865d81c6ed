"""The Kubernetes examples (deploy/kubernetes): valid, hardened, and true to the gateway.

Every manifest is parsed with PyYAML and validated, strictly (no unknown field), against the
Kubernetes API schemas that ``kubernetes-validate`` ships, for the oldest version the examples
support (native sidecars: 1.29) and the newest it knows. Then what a schema cannot know: every
container is hardened, probed and bounded; the gateway runs the image of this release; its
``DHGW_*`` variables are settings the gateway has, and the environment the image and the
manifest give it is one the gateway's own loader accepts (the Secrets' example values standing
in for the mounted files); the Secrets referenced exist with those keys; and the Pod outlives
the gateway's drain.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from gateway.config import GatewayConfig, is_local_address, load_config
from gateway.config.settings import API_KEYS_ENV, CONFIG_FILE_ENV, PROFILE_ENV, SETTINGS
from tests.test_container import IMAGE_UID, env_pairs, runtime, version

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "kubernetes"
MANIFESTS = sorted(DEPLOY.glob("*.yaml"))
WORKLOADS = ("sidecar-pod.yaml", "replicas.yaml")

#: Native sidecars (restartPolicy: Always on an init container) are on by default from 1.29.
OLDEST_KUBERNETES = "1.29.0"
IMAGE_REPOSITORY = "registry.example.com/dh-gateway"
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")


@dataclass(frozen=True)
class Workload:
    """A Pod spec, from a Pod or a Deployment's template."""

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
    docs = yaml.safe_load_all((DEPLOY / name).read_text(encoding="utf-8"))
    return tuple(d for d in docs if d is not None)


def all_documents() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in MANIFESTS:
        for doc in documents(path.name):
            yield path.name, doc


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
    for doc in documents("secret.example.yaml"):
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


def test_the_manifests_are_there() -> None:
    assert {p.name for p in MANIFESTS} == {*WORKLOADS, "secret.example.yaml"}
    assert (DEPLOY / "README.md").is_file()
    kinds = {(file, doc["kind"]) for file, doc in all_documents()}
    assert ("sidecar-pod.yaml", "Pod") in kinds
    for kind in ("Deployment", "PodDisruptionBudget", "Service"):
        assert ("replicas.yaml", kind) in kinds


@pytest.mark.parametrize("kubernetes", [OLDEST_KUBERNETES, kubernetes_validate.latest_version()])
@pytest.mark.parametrize("manifest", [p.name for p in MANIFESTS])
def test_manifest_matches_the_kubernetes_schema(manifest: str, kubernetes: str) -> None:
    for doc in documents(manifest):
        try:
            kubernetes_validate.validate(doc, kubernetes, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{manifest}: {doc['kind']}/{doc['metadata']['name']}: {exc.message}")


@pytest.mark.parametrize("file", WORKLOADS)
def test_every_container_is_hardened(file: str) -> None:
    w = workload(file)
    pod = w.spec.get("securityContext", {})
    assert pod.get("runAsNonRoot") is True
    assert pod.get("seccompProfile") == {"type": "RuntimeDefault"}
    assert pod.get("fsGroup") == IMAGE_UID, "the gateway's group reads the mounted Secrets"
    assert w.spec.get("automountServiceAccountToken") is False, "the gateway calls no K8s API"
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        assert not w.spec.get(host)
    for c in w.containers():
        sc = c.get("securityContext", {})
        where = f"{file}: {c['name']}"
        assert sc.get("allowPrivilegeEscalation") is False, where
        assert sc.get("readOnlyRootFilesystem") is True, where
        assert sc.get("runAsNonRoot", pod.get("runAsNonRoot")) is True, where
        assert sc.get("runAsUser", 1) != 0, where
        assert not sc.get("privileged"), where
        assert sc.get("capabilities", {}).get("drop") == ["ALL"], where
        assert not sc.get("capabilities", {}).get("add"), where
        assert sc.get("seccompProfile", pod.get("seccompProfile")) == {"type": "RuntimeDefault"}
    sc = w.gateway()["securityContext"]
    assert (sc["runAsUser"], sc["runAsGroup"]) == (IMAGE_UID, IMAGE_UID), "the image's user"


@pytest.mark.parametrize("file", WORKLOADS)
def test_every_container_is_probed_and_bounded(file: str) -> None:
    for c in workload(file).containers():
        where = f"{file}: {c['name']}"
        assert "livenessProbe" in c and "readinessProbe" in c, where
        resources = c.get("resources", {})
        for kind in ("cpu", "memory"):
            request = quantity(resources["requests"][kind])
            limit = quantity(resources["limits"][kind])
            assert 0 < request <= limit, f"{where}: {kind} request {request} > limit {limit}"
        ports = container_ports(c)
        for probe in PROBES:
            if probe not in c:
                continue
            handler = c[probe].get("httpGet") or c[probe].get("grpc") or {}
            port = handler.get("port")
            if port is not None:
                declared = port in ports if isinstance(port, str) else port in ports.values()
                assert declared, f"{where}: {probe} probes an undeclared port {port}"


@pytest.mark.parametrize("file", WORKLOADS)
def test_the_gateway_runs_this_release_configured_by_environment(file: str) -> None:
    g = workload(file).gateway()
    assert g["image"] == f"{IMAGE_REPOSITORY}:{version()}"
    assert "command" not in g, "keep the image's ENTRYPOINT (dh-gateway)"
    assert g.get("args", ["serve"]) == ["serve"], "settings go in env, where the tests read them"


def test_every_gateway_variable_is_a_gateway_setting() -> None:
    known = known_variables()
    used: set[str] = set()
    for file in WORKLOADS:
        for c in workload(file).containers():
            names = {n for n in env_of(c) if n.startswith("DHGW_")}
            assert is_gateway(c) or not names, f"{c['name']} is not the gateway: {names}"
            used |= names
    assert used
    assert not used - known, f"the gateway has no setting {sorted(used - known)}"
    assert "DHGW_ZEGO_SERVER_SECRET" not in used, "mount the ServerSecret as a file"


@pytest.mark.parametrize("file", WORKLOADS)
def test_the_gateway_accepts_its_configuration(file: str, tmp_path: Path) -> None:
    """The gateway's loader, given the image's and the manifest's environment, finds nothing
    wrong: values parse, files exist, and a reachable listener is protected."""
    config = effective_config(file, tmp_path)
    assert config.credentials("") is not None
    assert not config.server.allow_insecure, "the examples never serve insecurely"


def test_sidecar_listens_where_only_its_pod_reaches(tmp_path: Path) -> None:
    config = effective_config("sidecar-pod.yaml", tmp_path)
    assert is_local_address(config.server.listen), config.server.listen
    ports = container_ports(workload("sidecar-pod.yaml").gateway()).values()
    assert port_of(config.server.listen) not in ports, "the drive port is not exposed"


def test_replicas_serve_drives_only_with_tls_and_api_keys(tmp_path: Path) -> None:
    config = effective_config("replicas.yaml", tmp_path)
    assert not is_local_address(config.server.listen)
    assert config.server.tls is not None, "TLS from a Secret"
    assert config.auth.enabled and config.auth.api_keys, "API keys from a Secret"
    ports = container_ports(workload("replicas.yaml").gateway())
    assert port_of(config.server.listen) == ports["grpc"]


@pytest.mark.parametrize("file", WORKLOADS)
def test_probes_ask_the_gateway_where_it_answers(file: str, tmp_path: Path) -> None:
    """Native gRPC probes cannot do TLS nor reach loopback: they use the plaintext health-only
    listener; liveness uses /healthz, which a drain does not fail (/readyz and health do)."""
    config = effective_config(file, tmp_path)
    g = workload(file).gateway()
    ports = container_ports(g)
    assert config.server.health_listen and not is_local_address(config.server.health_listen)
    assert ports["health"] == port_of(config.server.health_listen)
    for probe in ("startupProbe", "readinessProbe"):
        assert g[probe]["grpc"]["port"] == ports["health"], probe
        assert g[probe]["grpc"].get("service", "") == "", "the server's overall health"
    liveness = g["livenessProbe"]["httpGet"]
    assert (liveness["path"], liveness["port"]) == ("/healthz", "metrics")
    assert ports["metrics"] == port_of(config.observability.metrics_listen)
    routes = (ROOT / "gateway" / "observability" / "http.py").read_text(encoding="utf-8")
    assert '"/healthz"' in routes, "the metrics endpoint serves /healthz"


@pytest.mark.parametrize("file", WORKLOADS)
def test_the_pod_outlives_the_drain(file: str, tmp_path: Path) -> None:
    """SIGKILL must not cut the drain short: preStop, the drain, then the drives left get their
    Stop and their WebSocket closes (``ws_close_timeout_s`` + 1 s), then the server stops (1 s);
    5 s of margin on top."""
    config = effective_config(file, tmp_path)
    w = workload(file)
    grace = w.spec["terminationGracePeriodSeconds"]
    closing = config.upstream.ws_close_timeout_s + 1.0 + 1.0
    needed = pre_stop_s(w.gateway()) + config.server.drain_timeout_s + closing + 5.0
    assert grace >= needed, f"{file}: terminationGracePeriodSeconds {grace} < {needed}"
    assert "DHGW_DRAIN_TIMEOUT_S" in env_of(w.gateway()), "state the drain beside the grace"


@pytest.mark.parametrize("file", WORKLOADS)
def test_referenced_secrets_exist_with_their_keys(file: str) -> None:
    w = workload(file)
    known = secrets()
    for volume in w.spec.get("volumes", []):
        secret = volume.get("secret")
        if secret is None:
            continue
        assert secret["secretName"] in known, secret["secretName"]
        for item in secret.get("items", []):
            assert item["key"] in known[secret["secretName"]], item
        assert secret.get("defaultMode", 0o644) & 0o007 == 0, "no world access to secrets"
    for c in w.containers():
        for entry in c.get("env", []):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref is not None:
                assert ref["key"] in known[ref["name"]], ref


def test_replicas_roll_and_are_disrupted_one_at_a_time_and_are_reachable() -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for d in documents("replicas.yaml")}
    deployment = docs["Deployment", "dh-gateway"]
    assert deployment["spec"]["replicas"] == 3
    strategy = deployment["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    pdb = docs["PodDisruptionBudget", "dh-gateway"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    port_names = set(container_ports(workload("replicas.yaml").gateway()))
    services = [d for d in docs.values() if d["kind"] == "Service"]
    assert services
    for service in services:
        assert service["spec"]["selector"].items() <= labels.items()
        grpc_ports = [p for p in service["spec"]["ports"] if p["name"] == "grpc"]
        assert grpc_ports and grpc_ports[0]["appProtocol"] == "grpc"
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names


def test_the_readme_explains_both_deployments() -> None:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for needle in ("sidecar-pod.yaml", "replicas.yaml", "secret.example.yaml", "Redis"):
        assert needle in readme
    assert f"{IMAGE_REPOSITORY}:{version()}" in readme, "the build command tags the same image"
    root = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "deploy/kubernetes/README.md" in root
