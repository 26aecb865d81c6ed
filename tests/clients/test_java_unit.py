"""The Java client's own checks: its JUnit tests, its pins, and dh-drive's command line.

``mvn package`` (run by ``lang_java.build()``) fails on a failed JUnit test; here the reports are
read back so that the count shows, and the Java ``dh-drive`` is held to the Python one's flags.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import xml.etree.ElementTree as ET

from dhgateway_client.cli import build_parser

from scripts.clients import client_command
from scripts.clients.lang_java import PROJECT, ROOT
from scripts.protogen import java as protogen_java
from tests.clients.conftest import CLIP

#: A run of dh-drive that fails fast (bad flags, refused connection): JVM start-up and exit.
RUN_TIMEOUT_S = 60
POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def pom_property(name: str) -> str:
    value = ET.parse(PROJECT / "pom.xml").getroot().findtext(f"m:properties/m:{name}", None, POM_NS)
    assert value is not None, f"pom.xml has no <{name}>"
    return value


def dh_drive(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*client_command("java"), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=RUN_TIMEOUT_S,
    )


def test_the_code_generators_match_the_runtime_in_the_pom() -> None:
    # protobuf-java refuses gencode newer than itself; grpc-java stubs want their own runtime.
    assert pom_property("protobuf.version") == protogen_java.PROTOC[2]
    assert pom_property("grpc.version") == protogen_java.GRPC_JAVA[2]


def test_junit_tests_ran_and_passed() -> None:
    client_command("java")  # builds (running the JUnit tests) unless up to date
    reports = sorted((PROJECT / "target" / "surefire-reports").glob("TEST-*.xml"))
    assert reports, "no JUnit report"
    total = failed = 0
    for report in reports:
        suite = ET.parse(report).getroot()
        total += int(suite.get("tests", "0"))
        failed += int(suite.get("failures", "0")) + int(suite.get("errors", "0"))
    assert total >= 10 and failed == 0, (total, failed)


def test_dh_drive_has_exactly_the_flags_of_the_python_one() -> None:
    python_flags = {
        option
        for action in build_parser()._actions
        for option in action.option_strings
        if option.startswith("--")
    }
    run = dh_drive("--help")
    assert run.returncode == 0, run.stderr
    assert set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", run.stdout)) == python_flags


def test_dh_drive_usage_errors_exit_2() -> None:
    run = dh_drive("--task", "t")
    assert run.returncode == 2
    assert "--file" in run.stderr
    run = dh_drive("--task", "t", "--file", str(CLIP), "--policy", "SOMETIMES")
    assert run.returncode == 2
    assert "invalid choice" in run.stderr


def test_an_unreachable_gateway_is_an_unavailable_error_line() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens there now: the connection is refused at once.
    run = dh_drive("--addr", f"127.0.0.1:{port}", "--task", "t", "--file", str(CLIP), "--json")
    assert run.returncode == 1, run.stderr
    (line,) = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert (line["event"], line["code"], line["reason"]) == ("error", "UNAVAILABLE", "")


def test_the_generated_code_is_a_source_root() -> None:
    generated = ROOT / protogen_java.TARGET
    assert generated.parent.parent == PROJECT / "src"
    assert f"<source>src/main/{generated.name}</source>" in (PROJECT / "pom.xml").read_text()
