"""The Kubernetes setups (deploy/kubernetes): valid, hardened, and true to the gateway.

The kustomize base and overlays are rendered by a pinned kustomize (scripts/manifests.py) and
every object is validated, strictly (no unknown field), against the Kubernetes API schemas that
``kubernetes-validate`` ships, for the oldest version the setups support (native sidecars:
1.29) and the newest it knows; the Prometheus Operator's kinds, which it does not know, are
decoded strictly into the Operator's Go types (tests/test_deploy_cluster.py, with the
autoscaler and the network policy). Then what a schema cannot know: every container is
hardened, probed and bounded; the gateway runs the image of this release and requests the CPU
its admission counts on; its ``DHGW_*`` variables are settings the gateway has, and the
environment the image and the manifest give it is one the gateway's own loader accepts (the
Secrets' example values standing in for the mounted files); the Secrets referenced exist with
those keys; and the Pod outlives the gateway's drain.
"""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from gateway.config import is_local_address
from scripts import manifests
from tests.deploy_manifests import (
    DEPLOY,
    ROOT,
    SECRETS,
    TARGETS,
    WORKLOADS,
    by_kind,
    container_ports,
    documents,
    effective_config,
    env_of,
    is_gateway,
    known_variables,
    port_of,
    pre_stop_s,
    quantity,
    secrets,
    selects,
    workload,
)
from tests.test_container import IMAGE_UID, version

#: Native sidecars (restartPolicy: Always on an init container) are on by default from 1.29.
OLDEST_KUBERNETES = "1.29.0"
IMAGE_REPOSITORY = "registry.example.com/dh-gateway"
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")


def kustomization_files(folder: Path) -> set[Path]:
    """The files a kustomization.yaml names (resources in its folder, patches), resolved."""
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
    named = [r for r in spec.get("resources", []) if not (folder / r).is_dir()]
    named += [p["path"] for p in spec.get("patches", []) if "path" in p]
    return {(folder / n).resolve() for n in named}


def test_the_setups_are_there_and_every_file_is_used() -> None:
    """Each overlay renders its setup's kinds, and every YAML file is the Secrets' placeholders
    or is named by a kustomization: no example left behind that nothing renders."""
    assert set(WORKLOADS) <= set(manifests.TARGETS)
    assert (DEPLOY / "README.md").is_file()
    assert [d["kind"] for d in documents("sidecar")] == ["Deployment"]
    replicas = {d["kind"] for d in documents("replicas")}
    expected = {"Deployment", "PodDisruptionBudget", "Service", "HorizontalPodAutoscaler"}
    assert replicas >= expected | {"ServiceMonitor", "NetworkPolicy"}
    used = {(DEPLOY / SECRETS).resolve()}
    for folder in manifests.TARGETS.values():
        used |= {(folder / "kustomization.yaml").resolve(), *kustomization_files(folder)}
    files = {p.resolve() for p in DEPLOY.rglob("*.yaml")}
    assert files == used, f"unused: {sorted(str(p) for p in files - used)}"


@pytest.mark.parametrize("kubernetes", [OLDEST_KUBERNETES, kubernetes_validate.latest_version()])
@pytest.mark.parametrize("target", TARGETS)
def test_manifest_matches_the_kubernetes_schema(target: str, kubernetes: str) -> None:
    """Every core object; the Operator's kinds are tests/test_deploy_cluster.py's."""
    for doc in documents(target):
        if manifests.is_custom(doc):
            continue
        try:
            kubernetes_validate.validate(doc, kubernetes, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{target}: {doc['kind']}/{doc['metadata']['name']}: {exc.message}")


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
    config = effective_config("sidecar", tmp_path)
    assert is_local_address(config.server.listen), config.server.listen
    ports = container_ports(workload("sidecar").gateway()).values()
    assert port_of(config.server.listen) not in ports, "the drive port is not exposed"


def test_replicas_serve_drives_only_with_tls_and_api_keys(tmp_path: Path) -> None:
    config = effective_config("replicas", tmp_path)
    assert not is_local_address(config.server.listen)
    assert config.server.tls is not None, "TLS from a Secret"
    assert config.auth.enabled and config.auth.api_keys, "API keys from a Secret"
    ports = container_ports(workload("replicas").gateway())
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
    docs = {(d["kind"], d["metadata"]["name"]): d for d in documents("replicas")}
    deployment = docs["Deployment", "dh-gateway"]
    assert "replicas" not in deployment["spec"], "the autoscaler owns the count"
    strategy = deployment["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(deployment["spec"]["selector"], labels)
    pdb = docs["PodDisruptionBudget", "dh-gateway"]
    assert selects(pdb["spec"]["selector"], labels)
    port_names = set(container_ports(workload("replicas").gateway()))
    services = [d for d in docs.values() if d["kind"] == "Service"]
    assert services
    for service in services:
        assert service["spec"]["selector"].items() <= labels.items()
        grpc_ports = [p for p in service["spec"]["ports"] if p["name"] == "grpc"]
        assert grpc_ports and grpc_ports[0]["appProtocol"] == "grpc"
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names


def test_sidecar_is_the_applications_own_pod() -> None:
    (deployment,) = by_kind("sidecar", "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(deployment["spec"]["selector"], labels)
    assert labels["app.kubernetes.io/name"] != "dh-gateway", "the application's, not ours"
    w = workload("sidecar")
    assert [c["name"] for c in w.spec["initContainers"]] == [w.gateway()["name"]]
    assert [c for c in w.spec["containers"] if not is_gateway(c)], "the application runs too"


@pytest.mark.parametrize("file", WORKLOADS)
def test_the_cpu_request_is_the_admission_threshold(file: str, tmp_path: Path) -> None:
    """Admission admits drives up to ``admit_max_cpu`` of a core: the scheduler must reserve
    that much, or a busy node starves the pacing that admission promised (underruns)."""
    config = effective_config(file, tmp_path)
    g = workload(file).gateway()
    assert "DHGW_ADMIT_MAX_CPU" in env_of(g), "state the threshold beside the request"
    request = quantity(g["resources"]["requests"]["cpu"])
    assert config.limits.admit_max_cpu > 0
    assert request == pytest.approx(config.limits.admit_max_cpu), (
        f"{file}: requests.cpu {request} is not DHGW_ADMIT_MAX_CPU {config.limits.admit_max_cpu}"
    )
    assert quantity(g["resources"]["limits"]["cpu"]) >= 1, "one core for the event loop"


def test_replicas_receive_the_vendors_callbacks(tmp_path: Path) -> None:
    config = effective_config("replicas", tmp_path)
    assert config.server.callback_listen
    assert config.server.redis_url, "each callback reaches the replica running its drive"
    credentials = config.credentials("")
    assert credentials is not None and credentials.callback_secret, "signed callbacks only"
    ports = container_ports(workload("replicas").gateway())
    assert ports["callback"] == port_of(config.server.callback_listen)


def test_the_readme_explains_both_deployments() -> None:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    needles = ("overlays/sidecar", "overlays/replicas", SECRETS, "Redis", "kubectl apply -k")
    for needle in (*needles, manifests.KUSTOMIZE_VERSION, "Helm", "HorizontalPodAutoscaler"):
        assert needle in readme, needle
    assert f"{IMAGE_REPOSITORY}:{version()}" in readme, "the build command tags the same image"
    root = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "deploy/kubernetes/README.md" in root
