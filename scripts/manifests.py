"""The Kubernetes manifests of deploy/kubernetes, rendered and checked as tests/test_deploy.py does.

Usage: ``python -m scripts.manifests [base|sidecar|replicas]`` prints what
``kubectl apply -k deploy/kubernetes/overlays/NAME`` would apply (``replicas`` by default);
``python -m scripts.manifests --tools`` builds both tools and prints where (scripts/check.py runs
it before pytest, so that a cold build is not charged to a test's time limit).

Both tools are Go programs, built on first use into the gitignored ``.tools/go`` (one folder per
version, so a bump builds afresh): kustomize at :data:`KUSTOMIZE_VERSION` with ``go install``
(modules from the Go module proxy: about 70 s cold, 20 s with the modules cached), pinned rather
than kubectl's built-in copy, whose version follows kubectl's; and ``scripts/crdcheck`` (about
90 s cold), which decodes the Prometheus Operator's kinds strictly into the Operator's own Go
types (kubernetes-validate knows the core kinds only).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from scripts.protogen.go import TOOLS, install, plugin, plugin_path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "kubernetes"
#: What can be rendered: the base and each overlay, by name.
TARGETS = {"base": DEPLOY / "base"} | {p.name: p for p in sorted((DEPLOY / "overlays").iterdir())}
#: The kinds of the Prometheus Operator's CRDs, which scripts/crdcheck checks.
CRD_GROUP = "monitoring.coreos.com/"

KUSTOMIZE = ("kustomize", "sigs.k8s.io/kustomize/kustomize/v5")
#: v5.8.2: the newest whose go.mod asks for no more than Go 1.26 (v5.8.3 asks for 1.27).
KUSTOMIZE_VERSION = "v5.8.2"
CRDCHECK = ROOT / "scripts" / "crdcheck"
RENDER_TIMEOUT_S = 60


def kustomize() -> Path:
    """The pinned kustomize binary, built first when missing."""
    return plugin(*KUSTOMIZE, KUSTOMIZE_VERSION)


def kustomize_built() -> bool:
    """Whether :func:`kustomize` would return at once, with no build."""
    return plugin_path(KUSTOMIZE[0], KUSTOMIZE_VERSION).exists()


def crdcheck() -> Path:
    """The checker's binary, built first when missing or when its source changed."""
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        digest.update((CRDCHECK / name).read_bytes())
    return install(TOOLS / f"crdcheck-{digest.hexdigest()[:12]}" / "crdcheck", ".", CRDCHECK)


def render_text(target: str) -> str:
    """The manifests of ``target`` (a key of :data:`TARGETS`) as kustomize writes them."""
    result = subprocess.run(
        [str(kustomize()), "build", str(TARGETS[target])],
        capture_output=True,
        text=True,
        check=False,
        timeout=RENDER_TIMEOUT_S,
    )
    if result.returncode != 0:
        raise RuntimeError(f"kustomize build {target}: {result.stderr.strip()}")
    return result.stdout


def render(target: str) -> list[dict[str, Any]]:
    """The objects of ``target``, parsed."""
    return [doc for doc in yaml.safe_load_all(render_text(target)) if doc is not None]


def is_custom(doc: dict[str, Any]) -> bool:
    """Whether ``doc`` is of a Prometheus Operator kind (checked by :func:`check_custom`)."""
    return str(doc.get("apiVersion", "")).startswith(CRD_GROUP)


def check_custom(docs: list[dict[str, Any]]) -> list[str]:
    """One line per problem scripts/crdcheck finds in ``docs`` (all of them custom kinds)."""
    lines = "".join(json.dumps(doc, separators=(",", ":")) + "\n" for doc in docs)
    result = subprocess.run(
        [str(crdcheck())],
        input=lines,
        capture_output=True,
        text=True,
        check=False,
        timeout=RENDER_TIMEOUT_S,
    )
    if result.returncode not in (0, 1):
        raise RuntimeError(f"crdcheck: {result.stderr.strip()}")
    return result.stdout.splitlines()


def main(argv: list[str]) -> int:
    if argv == ["--tools"]:
        print(f"{kustomize()}\n{crdcheck()}")
        return 0
    target = argv[0] if argv else "replicas"
    if target not in TARGETS:
        usage = f"usage: python -m scripts.manifests [{'|'.join(TARGETS)}|--tools]"
        print(usage, file=sys.stderr)
        return 2
    sys.stdout.write(render_text(target))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
