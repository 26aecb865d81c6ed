"""The gateway and the Python client as a user gets them: built, installed in a fresh venv, run.

``python -m build`` makes each project's sdist and wheel (the wheel from the sdist, as a release
does) from a copy of the tree as a clone has it; one fresh venv installs both wheels and runs
``dh-gateway demo`` (the built-in simulator on loopback), then installs the gateway from the copied
tree alone, as ``pip install <repo>`` or a git URL does. Slow (the builds, and pip installing the
runtime dependencies at the pinned versions): one copy, one build, one venv for the module.
Last, the Dockerfile's own pip commands run here as written (no container engine): the hashed
lock, offline, then the two wheels.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.test_container import shell_commands, split_flags, stages

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "constraints.txt"
#: A build of one project (an isolated build environment with setuptools, an sdist, a wheel).
BUILD_TIMEOUT_S = 300
#: A fresh venv's install: the runtime dependencies (grpcio, numpy, ...) at the pinned versions.
INSTALL_TIMEOUT_S = 600
#: The demo speaks a 3.9 s clip; it starts the simulator and the gateway first.
DEMO_TIMEOUT_S = 120

pytestmark = pytest.mark.timeout(BUILD_TIMEOUT_S * 2 + INSTALL_TIMEOUT_S * 2 + DEMO_TIMEOUT_S * 2)


def run(command: list[str | Path], timeout: float, cwd: Path) -> str:
    """Run a command outside this venv (no PYTHONPATH, no VIRTUAL_ENV); its output, or fail."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(map(str, command))} failed:\n{output}"
    return output


def version(project: Path) -> str:
    data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    return str(data["project"]["version"])


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("packaging")


@pytest.fixture(scope="module")
def tree(work: Path) -> Path:
    """The files a clone has (tracked and not ignored), copied: builds write into their tree."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    copy = work / "tree"
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is not there
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    return copy


@pytest.fixture(scope="module")
def dist(work: Path, tree: Path) -> Path:
    """Both projects' sdists and wheels, built by ``python -m build``."""
    out = work / "dist"
    for project in (tree, tree / "clients" / "python"):
        run([sys.executable, "-m", "build", "--outdir", out, project], BUILD_TIMEOUT_S, work)
    return out


@pytest.fixture(scope="module")
def venv(work: Path) -> Path:
    """A fresh venv, nothing installed; its bin/."""
    run([sys.executable, "-m", "venv", work / "venv"], INSTALL_TIMEOUT_S, work)
    return work / "venv" / "bin"


def reinstall(venv: Path, *requirements: str | Path) -> None:
    """Remove both distributions from the venv, then install ``requirements`` (pinned)."""
    pip: list[str | Path] = [venv / "python", "-m", "pip"]
    run([*pip, "uninstall", "-y", "dh-gateway", "dh-gateway-client"], INSTALL_TIMEOUT_S, venv)
    run([*pip, "install", "-c", CONSTRAINTS, *requirements], INSTALL_TIMEOUT_S, venv)
    run([*pip, "check"], INSTALL_TIMEOUT_S, venv)


def assert_demo_runs(venv: Path, cwd: Path) -> None:
    """``dh-gateway demo`` from the venv, its packages the venv's own, passes every check."""
    code = (
        "import gateway, dhgateway.v1, dhgateway_client as c; print(gateway.__file__, c.__file__)"
    )
    where = run([venv / "python", "-c", code], DEMO_TIMEOUT_S, cwd)
    assert str(ROOT) not in where and "site-packages" in where, where
    output = run([venv / "dh-gateway", "demo"], DEMO_TIMEOUT_S, cwd)
    assert "simulator verdict:" in output and "[FAIL]" not in output, output


def wheel(dist: Path, name: str) -> Path:
    (found,) = dist.glob(f"{name}-*.whl")
    return found


def test_build_makes_an_sdist_and_a_wheel_of_each_project(dist: Path, tree: Path) -> None:
    gateway, client = version(tree), version(tree / "clients" / "python")
    assert gateway == client, "the gateway pins the client of its own version"
    assert sorted(p.name for p in dist.iterdir()) == [
        f"dh_gateway-{gateway}-py3-none-any.whl",
        f"dh_gateway-{gateway}.tar.gz",
        f"dh_gateway_client-{client}-py3-none-any.whl",
        f"dh_gateway_client-{client}.tar.gz",
    ]


def test_the_two_wheels_install_no_file_twice(dist: Path) -> None:
    """A user may install both: no file may belong to both distributions."""
    files = []
    for name in ("dh_gateway", "dh_gateway_client"):
        with zipfile.ZipFile(wheel(dist, name)) as archive:
            files.append({n for n in archive.namelist() if ".dist-info/" not in n})
    gateway, client = files
    assert {n.split("/")[0] for n in gateway} == {"gateway"}
    assert {n.split("/")[0] for n in client} == {"dhgateway", "dhgateway_client"}
    assert not gateway & client


def test_the_gateway_wheel_requires_the_client_by_name(dist: Path, tree: Path) -> None:
    """Built from the sdist, the wheel names no path of the machine that built it."""
    with zipfile.ZipFile(wheel(dist, "dh_gateway")) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(name).decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert f"Requires-Dist: dh-gateway-client=={version(tree)}" in requires
    assert not [line for line in requires if "@" in line], requires


def test_the_wheel_requires_the_extras_and_uvloop_only_where_they_apply(dist: Path) -> None:
    with zipfile.ZipFile(wheel(dist, "dh_gateway")) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(name).decode()
    requires: dict[str, list[Requirement]] = {}
    for line in metadata.splitlines():
        if line.startswith("Requires-Dist:"):
            requirement = Requirement(line.removeprefix("Requires-Dist:").strip())
            requires.setdefault(requirement.name, []).append(requirement)
    for package, extra in (("redis", "redis"), ("trustme", "simulator")):
        (requirement,) = requires[package]
        assert requirement.marker is not None, f"{package} is unconditional"
        assert not requirement.marker.evaluate({"extra": ""}), requirement
        assert requirement.marker.evaluate({"extra": extra}), requirement
    (uvloop,) = requires["uvloop"]
    assert uvloop.marker is not None
    assert str(uvloop.marker) == (
        'sys_platform != "win32" and platform_python_implementation == "CPython"'
    )
    assert not uvloop.marker.evaluate({"sys_platform": "win32", "extra": ""})
    assert not uvloop.marker.evaluate({"platform_python_implementation": "PyPy", "extra": ""})
    (dev,) = requires["dh-gateway"]  # the dev extra names the others
    assert dev.extras == {"redis", "simulator", "tracing"}


def test_the_wheels_install_in_a_fresh_venv_and_run_the_demo(
    dist: Path, venv: Path, work: Path
) -> None:
    reinstall(venv, wheel(dist, "dh_gateway"), wheel(dist, "dh_gateway_client"))
    assert_demo_runs(venv, work)


def test_the_source_tree_alone_installs_and_runs_the_demo(
    tree: Path, venv: Path, work: Path
) -> None:
    """``pip install <repo>``: the gateway brings the client of the same tree."""
    reinstall(venv, tree)
    site = next((venv.parent / "lib").glob("python3*/site-packages"))
    (record,) = site.glob("dh_gateway_client-*.dist-info/direct_url.json")
    assert json.loads(record.read_text())["url"] == (tree / "clients" / "python").as_uri()
    assert_demo_runs(venv, work)


def test_the_images_pip_commands_install_the_hashed_lock_and_run_the_demo(
    tree: Path, work: Path
) -> None:
    """The Dockerfile's COPYs into /wheels and its pip and venv commands, in order, with /wheels
    and $VIRTUAL_ENV directories of the test and /src the copied tree."""
    wheels, image = work / "wheels", work / "image"
    wheels.mkdir()

    def here(word: str) -> str:
        return word.replace("$VIRTUAL_ENV", str(image)).replace("/wheels", str(wheels))

    ran: list[list[str]] = []
    for stage in stages():
        for instruction in stage.instructions:
            flags, words = split_flags(instruction.args)
            if instruction.keyword == "COPY" and words[-1].startswith("/wheels") and not flags:
                for source in words[:-1]:
                    shutil.copy(tree / source, wheels)
            if instruction.keyword != "RUN":
                continue
            for command in shell_commands(instruction):
                if command[:1] == ["pip"] or command[:3] == ["python", "-m", "venv"]:
                    # The dev venv's interpreter stands for the image's python (3.11 too).
                    argv = command[1:] if command[0] == "python" else ["-m", *command]
                    run([sys.executable, *map(here, argv)], INSTALL_TIMEOUT_S, tree)
                    ran.append(command)
    verbs = [
        next(w for w in c if w in ("download", "wheel", "venv", "install", "check")) for c in ran
    ]
    assert verbs == ["download", "wheel", "venv", "install", "install", "check"], ran
    bin_ = image / "bin"
    imports = "import redis, gateway.service.app; import importlib.util as u; "
    imports += "print(u.find_spec('trustme'), u.find_spec('pytest'))"
    assert run([bin_ / "python", "-c", imports], DEMO_TIMEOUT_S, work).strip() == "None None"
    assert_demo_runs(bin_, work)
