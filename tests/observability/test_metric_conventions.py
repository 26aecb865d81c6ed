"""The real gateway's ``/metrics`` after a drive follows Prometheus' naming conventions.

Parsed by prometheus_client's own text parser, linted here (suffixes, base units, ``_total``
on counters, no ``_created``), and checked by ``promtool check metrics`` (scripts/system-deps.sh
takes promtool out of Debian's prometheus package).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from dhgateway_client import DriveOptions
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from gateway.demo import bundled_clip
from tests.observability.conftest import http_get, observed_gateway
from tests.service.conftest import chunks

PREFIXES = ("dhgw_", "grpc_server_", "process_", "python_")
#: Units that have a base unit Prometheus prefers, and words that hide a ratio's scale.
NOT_BASE = {
    "ms", "milliseconds", "us", "microseconds", "ns", "nanoseconds", "minutes", "hours", "days",
    "kb", "kib", "mb", "mib", "gb", "gib", "kilobytes", "megabytes", "bits", "percent", "pct",
    "share", "fraction", "celsius",
}  # fmt: skip
#: What a histogram's name may end with: it observes a quantity, which has a unit.
HISTOGRAM_UNITS = ("_seconds", "_bytes", "_ratio")
#: The suffixes the exposition adds to a family's samples; never part of a family's name.
SAMPLE_SUFFIXES = ("_total", "_created", "_count", "_sum", "_bucket", "_gcount", "_gsum")
NAME = re.compile(r"[a-z_][a-z0-9_]*")
SERVICE = "dhgateway.v1.DriveGateway"
DRIVE = {"grpc_type": "bidi_stream", "grpc_service": SERVICE, "grpc_method": "Drive"}


@pytest.fixture(scope="module")
def exposition() -> Iterator[tuple[str, int, int]]:
    """(/metrics text, messages the client sent, events it received) after one demo drive."""

    async def drive() -> tuple[str, int, int]:
        pieces = chunks(bundled_clip().read_bytes(), 640)
        async with observed_gateway() as o:
            client = o.harness.client
            events = [e async for e in client.drive("demo", pieces, DriveOptions(encoding="WAV"))]
            assert events[-1].WhichOneof("event") == "completed"
            status, text = await http_get(f"{o.metrics_url}/metrics")
            assert status == 200
        return text, len(pieces) + 1, len(events)  # the DriveConfig, then each chunk

    yield asyncio.run(asyncio.wait_for(drive(), timeout=60))


def type_lines(text: str) -> dict[str, str]:
    """Each ``# TYPE name type`` line of the text format: name -> type."""
    found = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            found[name] = kind
    return found


def problems(text: str) -> list[str]:
    """What breaks the conventions in a text exposition; empty when nothing does."""
    found: list[str] = []
    exposed = type_lines(text)
    for name, kind in exposed.items():
        if kind == "counter" and not name.endswith("_total"):
            found.append(f"counter {name} does not end _total")
        if kind != "counter" and name.endswith("_total"):
            found.append(f"{kind} {name} ends _total: only counters do")
        if name.endswith("_created"):
            found.append(f"{name}: a _created series")
    for family in text_string_to_metric_families(text):
        found += family_problems(family.name, family.type, family.documentation, family.samples)
    return found


def family_problems(name: str, kind: str, documentation: str, samples: list[Sample]) -> list[str]:
    found = []
    if not NAME.fullmatch(name) or not name.startswith(PREFIXES):
        found.append(f"{name}: not a snake_case name under {', '.join(PREFIXES)}")
    if kind not in ("counter", "gauge", "histogram", "info"):
        found.append(f"{name}: type {kind}")
    if not documentation.strip():
        found.append(f"{name}: no HELP")
    if name.endswith(SAMPLE_SUFFIXES):
        found.append(f"{name}: a family named with a sample's suffix")
    if bad := NOT_BASE & set(name.split("_")):
        found.append(f"{name}: {', '.join(sorted(bad))} (use seconds, bytes or _ratio)")
    if kind == "histogram" and not name.endswith(HISTOGRAM_UNITS):
        found.append(f"histogram {name} names no unit ({', '.join(HISTOGRAM_UNITS)})")
    for sample in samples:
        if sample.name.endswith("_created"):
            found.append(f"{sample.name}: a _created sample")
        if kind == "counter" and not sample.name.endswith("_total"):
            found.append(f"counter sample {sample.name} does not end _total")
    return found


def test_the_lint_catches_what_it_is_for() -> None:
    bad = "\n".join(
        [
            "# HELP dhgw_load_cpu_share x",
            "# TYPE dhgw_load_cpu_share gauge",
            "dhgw_load_cpu_share 0.5",
            "# HELP dhgw_wait_ms x",
            "# TYPE dhgw_wait_ms histogram",
            'dhgw_wait_ms_bucket{le="+Inf"} 1',
            "dhgw_wait_ms_count 1",
            "dhgw_wait_ms_sum 3",
            "# HELP dhgw_things_total x",
            "# TYPE dhgw_things_total counter",
            "dhgw_things_total 1",
            "# HELP dhgw_things_created x",
            "# TYPE dhgw_things_created gauge",
            "dhgw_things_created 1.7e9",
            "# HELP other_thing x",
            "# TYPE other_thing gauge",
            "other_thing 1",
            "",
        ]
    )
    found = "\n".join(problems(bad))
    assert "dhgw_load_cpu_share: share" in found
    assert "dhgw_wait_ms: ms" in found
    assert "histogram dhgw_wait_ms names no unit" in found
    assert "dhgw_things_created: a _created series" in found
    assert "other_thing: not a snake_case name under" in found


def test_every_family_follows_the_conventions(exposition: tuple[str, int, int]) -> None:
    text = exposition[0]
    assert problems(text) == []
    assert "_created" not in text


def test_process_and_python_families_are_there(exposition: tuple[str, int, int]) -> None:
    names = {family.name for family in text_string_to_metric_families(exposition[0])}
    for name in (
        "process_cpu_seconds",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
        "python_info",
        "python_gc_collections",
    ):
        assert name in names


def test_the_drive_is_timed_and_its_messages_counted(exposition: tuple[str, int, int]) -> None:
    text, requests, events = exposition
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }

    def value(name: str, **labels: str) -> float | None:
        return samples.get((name, frozenset({**DRIVE, **labels}.items())))

    assert value("grpc_server_handling_seconds_count", grpc_code="OK") == 1
    assert value("grpc_server_handling_seconds_bucket", grpc_code="OK", le="+Inf") == 1
    handled_s = value("grpc_server_handling_seconds_sum", grpc_code="OK")
    assert handled_s is not None and 1 < handled_s < 60  # the clip is a few seconds at 1x
    assert value("grpc_server_msg_received_total") == requests
    assert value("grpc_server_msg_sent_total") == events
    assert value("grpc_server_started_total") == 1
    assert value("grpc_server_handled_total", grpc_code="OK") == 1


def test_promtool_finds_nothing(exposition: tuple[str, int, int]) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: run `make test` (scripts/system-deps.sh)")
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=exposition[0],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
