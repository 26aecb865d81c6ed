"""The shared service's place in the cluster: its autoscaler, its scrape and its network policy.

The Prometheus Operator's objects are decoded strictly into the Operator's own Go types
(scripts/crdcheck, built on first use), as kubernetes-validate knows only the core kinds; then
each object is held to the gateway it serves: the autoscaler adds replicas before admission
refuses drives, the ServiceMonitor scrapes the port the gateway serves /metrics on, and the
NetworkPolicy opens exactly the ports the gateway's configuration listens on and reaches.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scripts import manifests
from tests.deploy_manifests import (
    ROOT,
    TARGETS,
    by_kind,
    container_ports,
    documents,
    effective_config,
    one,
    port_of,
    pre_stop_s,
    quantity,
    selects,
    workload,
)


def custom_objects() -> list[dict[str, Any]]:
    return [d for target in TARGETS for d in documents(target) if manifests.is_custom(d)]


def pod_labels(target: str) -> dict[str, str]:
    labels: dict[str, str] = one(target, "Deployment")["spec"]["template"]["metadata"]["labels"]
    return labels


def test_the_operators_objects_match_its_types() -> None:
    found = custom_objects()
    assert found, "the replicas overlay has a ServiceMonitor"
    assert manifests.check_custom(found) == []


def test_the_type_check_refuses_a_misspelt_field_and_a_wrong_type() -> None:
    """The checker is strict: a field the kind lacks, or a number for a duration, fails."""
    good = one("replicas", "ServiceMonitor")
    misspelt = copy.deepcopy(good)
    misspelt["spec"]["endpoints"][0]["intervall"] = "15s"
    wrong_type = copy.deepcopy(good)
    wrong_type["spec"]["endpoints"][0]["interval"] = 15
    problems = manifests.check_custom([misspelt, wrong_type])
    assert len(problems) == 2, problems
    assert "intervall" in problems[0] and "interval" in problems[1]


def test_the_autoscaler_adds_replicas_before_admission_refuses(tmp_path: Path) -> None:
    """On CPU utilisation of the request, which is the admission threshold
    (tests/test_deploy.py): the target sits below it, so a new replica starts while the others
    still admit; down one replica at a time, no faster than one drains."""
    hpa = one("replicas", "HorizontalPodAutoscaler")
    deployment = one("replicas", "Deployment")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert hpa["spec"]["minReplicas"] >= 2, "a replica's drain leaves another serving"
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    pdb = one("replicas", "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] < hpa["spec"]["minReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert (metric["type"], metric["resource"]["name"]) == ("Resource", "cpu")
    assert metric["resource"]["target"]["type"] == "Utilization"
    utilisation = metric["resource"]["target"]["averageUtilization"] / 100
    config = effective_config("replicas", tmp_path)
    g = workload("replicas").gateway()
    scale_at = utilisation * quantity(g["resources"]["requests"]["cpu"])
    threshold = config.limits.admit_max_cpu
    assert 0.5 * threshold <= scale_at < threshold, f"scales at {scale_at} of {threshold} core"
    down = hpa["spec"]["behavior"]["scaleDown"]
    (policy,) = down["policies"]
    assert (policy["type"], policy["value"]) == ("Pods", 1)
    drain = pre_stop_s(g) + config.server.drain_timeout_s
    assert policy["periodSeconds"] >= drain, "one replica drains before the next is removed"
    assert down["stabilizationWindowSeconds"] >= 60, "no flapping on a short lull"


def test_the_service_monitor_scrapes_where_the_gateway_serves_metrics(tmp_path: Path) -> None:
    monitor = one("replicas", "ServiceMonitor")
    services = [
        s
        for s in by_kind("replicas", "Service")
        if selects(monitor["spec"]["selector"], s["metadata"]["labels"])
    ]
    assert len(services) == 1, "one Service, so one target a replica"
    (service,) = services
    (endpoint,) = monitor["spec"]["endpoints"]
    (port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
    config = effective_config("replicas", tmp_path)
    ports = container_ports(workload("replicas").gateway())
    assert ports[port["targetPort"]] == port_of(config.observability.metrics_listen)
    assert endpoint.get("path", "/metrics") == "/metrics"
    routes = (ROOT / "gateway" / "observability" / "http.py").read_text(encoding="utf-8")
    assert '"/metrics"' in routes


def network_policy() -> dict[str, Any]:
    policy = one("replicas", "NetworkPolicy")
    assert selects(policy["spec"]["podSelector"], pod_labels("replicas"))
    assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    return policy


def rule_ports(rules: list[dict[str, Any]]) -> list[tuple[int | str, str]]:
    return [(p["port"], p.get("protocol", "TCP")) for rule in rules for p in rule["ports"]]


def test_only_the_gateways_listeners_are_let_in(tmp_path: Path) -> None:
    """gRPC, callbacks and metrics, each from a named source; the health port needs no rule
    (the kubelet's probes come from the node, which a NetworkPolicy does not filter)."""
    ingress = network_policy()["spec"]["ingress"]
    for rule in ingress:
        assert rule.get("from"), "every port from a named source, never from anywhere"
    ports = container_ports(workload("replicas").gateway())
    opened = rule_ports(ingress)
    assert all(isinstance(port, str) for port, _ in opened), "by name: ports follow the Pod"
    assert sorted(opened) == sorted((name, "TCP") for name in ("grpc", "callback", "metrics"))
    config = effective_config("replicas", tmp_path)
    listens = (
        config.server.listen,
        config.server.callback_listen,
        config.observability.metrics_listen,
    )
    assert {ports[str(name)] for name, _ in opened} == {port_of(listen) for listen in listens}


def test_only_dns_redis_and_the_vendor_are_reached(tmp_path: Path) -> None:
    egress = network_policy()["spec"]["egress"]
    for rule in egress:
        assert rule.get("to"), "every port to a named destination"
    config = effective_config("replicas", tmp_path)
    assert config.server.redis_url is not None
    redis = urlsplit(config.server.redis_url).port or 6379
    api = urlsplit(config.upstream.api_url)
    vendor = api.port or (443 if api.scheme == "https" else 80)
    assert sorted(rule_ports(egress)) == sorted(
        [(53, "UDP"), (53, "TCP"), (redis, "TCP"), (vendor, "TCP")]
    )
    (public,) = [r for r in egress if any("ipBlock" in peer for peer in r["to"])]
    block = public["to"][0]["ipBlock"]
    assert block["cidr"] == "0.0.0.0/0"
    private = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"}
    assert private <= set(block["except"]), "the vendor is public: nothing inside on 443"


def test_the_sidecar_leaves_the_applications_network_and_scale_alone() -> None:
    """A policy selecting the Pod would filter the application's own traffic too."""
    assert not by_kind("sidecar", "NetworkPolicy")
    assert not by_kind("sidecar", "HorizontalPodAutoscaler"), "it scales with the application"
