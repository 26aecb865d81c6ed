"""``dh-gateway usage``: the usage per tenant of running gateways, from their ``/metrics``.

Scrapes each URL, parses the text with prometheus_client's parser and adds up the
``dhgw_usage_*`` families (:mod:`~gateway.observability.usage`) per (principal, profile), over
every replica given: drives, seconds of audio driven, seconds spoken, errors by reason. The
totals are since each process started (they are counters); for a period, ask Prometheus
(``increase(...[1d])``, docs/operations.md).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

from gateway.config.model import OTHER_LABEL

__all__ = ["ScrapeFailed", "TenantUsage", "metrics_url", "render", "scrape", "usage_of"]

_HEADERS = ("principal", "profile", "drives", "audio s", "speaking s", "errors", "reasons")


class ScrapeFailed(Exception):
    """A ``/metrics`` URL did not answer with the text exposition (the message says why)."""


@dataclass
class TenantUsage:
    """One (principal, profile) pair's totals."""

    principal: str
    profile: str
    drives: float = 0.0
    audio_s: float = 0.0
    speaking_s: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)  # reason -> drives


def metrics_url(target: str) -> str:
    """The ``/metrics`` URL of ``target``: ``host:port``, a URL without a path, or a URL."""
    url = target if "://" in target else f"http://{target}"
    return url if urlsplit(url).path not in ("", "/") else url.rstrip("/") + "/metrics"


def scrape(url: str, timeout_s: float) -> str:
    """The text exposition at ``url`` (http or https).

    Raises:
        ScrapeFailed: another scheme, no answer within ``timeout_s``, an HTTP error, not text.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise ScrapeFailed(f"{url}: not an http(s) URL")  # urlopen would read file: URLs too
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            body: bytes = response.read()
    except urllib.error.HTTPError as exc:
        raise ScrapeFailed(f"{url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ScrapeFailed(f"{url}: {reason}") from None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ScrapeFailed(f"{url}: not a text exposition") from None


def usage_of(texts: list[str]) -> list[TenantUsage]:
    """Each tenant's totals over the expositions ``texts`` (one per replica), sorted by
    principal and profile, ``other`` last; a tenant with no drive yet is left out (the
    gateway starts each configured pair's series at 0).

    Raises:
        ValueError: a text that is not the Prometheus text format.
    """
    found: dict[tuple[str, str], TenantUsage] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            if not family.name.startswith("dhgw_usage_"):
                continue
            for sample in family.samples:
                labels = sample.labels
                key = (labels.get("principal", ""), labels.get("profile", ""))
                row = found.setdefault(key, TenantUsage(*key))
                _add(row, sample.name, labels, sample.value)
    rows = [row for row in found.values() if row.drives]
    return sorted(rows, key=lambda r: (r.principal == OTHER_LABEL, r.principal, r.profile))


def _add(row: TenantUsage, name: str, labels: dict[str, str], value: float) -> None:
    if name == "dhgw_usage_drives_total":
        row.drives += value
    elif name == "dhgw_usage_audio_seconds_total":
        row.audio_s += value
    elif name == "dhgw_usage_speaking_seconds_total":
        row.speaking_s += value
    elif name == "dhgw_usage_errors_total" and value:
        row.errors[labels.get("reason", "")] += round(value)


def render(rows: list[TenantUsage]) -> str:
    """A table of ``rows`` and their total, one line each; seconds to a tenth, ``-`` for the
    profile of drives refused before their profile was known."""
    total = TenantUsage("total", "")
    for row in rows:
        total.drives += row.drives
        total.audio_s += row.audio_s
        total.speaking_s += row.speaking_s
        total.errors.update(row.errors)
    lines = [_HEADERS, *(_cells(row, row.profile or "-") for row in rows), _cells(total, "")]
    widths = [max(len(line[i]) for line in lines) for i in range(len(_HEADERS))]
    numeric = range(2, 6)
    out = []
    for line in lines:
        cells = [
            cell.rjust(width) if i in numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out) + "\n"


def _cells(row: TenantUsage, profile: str) -> tuple[str, ...]:
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(row.errors.items()))
    return (
        row.principal,
        profile,
        f"{row.drives:.0f}",
        f"{row.audio_s:.1f}",
        f"{row.speaking_s:.1f}",
        str(sum(row.errors.values())),
        reasons,
    )
