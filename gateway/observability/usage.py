"""Usage per tenant: drives, audio driven, speech and errors per API key and profile.

A tenant is the pair (``principal``, ``profile``) of :class:`~.observer.Tenant`: the name of
the API key that authenticated the drive (``anonymous`` when the gateway checks no keys) and
the credentials profile it used. Both come from the gateway's own configuration, never from a
client's strings, and at most ``limit`` pairs (``observability.usage_label_limit``) are
labelled per process: the drives of any later pair are counted under ``other`` / ``other``,
and the first such drive logs a warning. Counted when each drive ends (a refusal: when it is
refused), like :mod:`~gateway.observability.metrics`' other totals.

When every pair the configuration allows (each key with each profile it may use; without keys,
``anonymous`` with each profile) fits under the cap, their drives, audio and speaking series
start at 0: ``increase()`` cannot see the first value of a series that appears mid-window, so
a tenant's first drive after a restart would otherwise go uncounted. Errors and refusals
appear with their first occurrence, as other by-reason counters do.

=============================================  ========  =====================================
name                                           type      labels (besides principal, profile)
=============================================  ========  =====================================
``dhgw_usage_drives_total``                    counter   outcome (completed, failed, refused)
``dhgw_usage_audio_seconds_total``             counter
``dhgw_usage_speaking_seconds_total``          counter   source (vendor, estimated)
``dhgw_usage_errors_total``                    counter   reason
=============================================  ========  =====================================

* audio: what the avatar was driven with (``Completed.billed_ms``): the audio sent to the
  vendor, a text drive's rendered length; for every drive, failed ones too.
* speaking: what the avatar played, as its PlaybackFinished said; ``vendor`` where the vendor's
  callback confirmed the end, ``estimated`` where the gateway's estimate stood.
* errors: each drive that did not complete (refused ones too), by its
  :class:`~gateway.errors.Reason` (``CANCELLED``: the client went away).

Seconds per tenant per day (docs/operations.md):
``sum by (principal, profile) (increase(dhgw_usage_audio_seconds_total[1d]))``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable

from prometheus_client import CollectorRegistry, Counter

from gateway.config import ANY_PROFILE, AuthConfig
from gateway.config.model import ANONYMOUS_LABEL as ANONYMOUS, OTHER_LABEL as OTHER
from gateway.observability.observer import DriveEnd, Tenant

__all__ = ["ANONYMOUS", "OTHER", "TenantLabels", "UsageMetrics", "configured_tenants"]

log = logging.getLogger("gateway.observability")

#: The label names, in order.
TENANT_LABELS = ("principal", "profile")
OUTCOMES = ("completed", "failed")
SOURCES = ("vendor", "estimated")


def configured_tenants(auth: AuthConfig, profiles: Collection[str]) -> list[Tenant]:
    """Every (key, profile) pair the configuration lets drive, in its order: each API key with
    each profile it may use; without keys, anyone with each profile."""
    if not auth.enabled:
        return [Tenant("", profile) for profile in profiles]
    return [
        Tenant(key.name, profile)
        for key in auth.api_keys
        for profile in (profiles if ANY_PROFILE in key.profiles else key.profiles)
    ]


class TenantLabels:
    """The label values of each tenant, at most ``limit`` distinct pairs; the rest ``other``.

    Args:
        limit: how many (principal, profile) pairs get labels of their own (0: none).
    """

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError(f"the usage label limit must not be negative, got {limit}")
        self.limit = limit
        self._seen: set[tuple[str, str]] = set()
        self._folded = False

    def of(self, tenant: Tenant) -> tuple[str, str]:
        """(principal, profile) as labelled: the tenant's own names, or ``other`` twice once
        ``limit`` other pairs were seen."""
        pair = (tenant.principal or ANONYMOUS, tenant.profile)
        if pair in self._seen:
            return pair
        if len(self._seen) < self.limit:
            self._seen.add(pair)
            return pair
        if not self._folded:
            self._folded = True
            log.warning(
                "usage metrics: more than %d API key and profile pairs; the rest are "
                "counted as principal=other, profile=other (observability.usage_label_limit)",
                self.limit,
            )
        return OTHER, OTHER


class UsageMetrics:
    """The usage families (see the module docstring), in ``registry``.

    Args:
        registry: where to register them (the gateway's own).
        limit: how many (principal, profile) pairs are labelled.
        tenants: the pairs the configuration allows (:func:`configured_tenants`); when they
            all fit under ``limit``, their series start at 0.
    """

    def __init__(
        self, registry: CollectorRegistry, limit: int, tenants: Iterable[Tenant] = ()
    ) -> None:
        self.labels = TenantLabels(limit)
        self.drives = Counter(
            "dhgw_usage_drives",
            "Drives per API key (principal) and credentials profile, by outcome (completed, "
            "failed, refused).",
            [*TENANT_LABELS, "outcome"],
            registry=registry,
        )
        self.audio_seconds = Counter(
            "dhgw_usage_audio_seconds",
            "Seconds of audio the avatar was driven with (Completed.billed_ms: the audio sent "
            "to the vendor, or a text drive's rendered length), per API key and profile.",
            list(TENANT_LABELS),
            registry=registry,
        )
        self.speaking_seconds = Counter(
            "dhgw_usage_speaking_seconds",
            "Seconds the avatar played (PlaybackFinished.played_ms), per API key and profile, "
            "by source (vendor: its callback confirmed the end; estimated: the gateway's).",
            [*TENANT_LABELS, "source"],
            registry=registry,
        )
        self.errors = Counter(
            "dhgw_usage_errors",
            "Drives that did not complete (refusals too), per API key and profile, by reason.",
            [*TENANT_LABELS, "reason"],
            registry=registry,
        )
        known = list(dict.fromkeys(tenants))
        if len(known) <= limit:
            for tenant in known:
                self._start_at_zero(tenant)

    def _start_at_zero(self, tenant: Tenant) -> None:
        principal, profile = self.labels.of(tenant)
        for outcome in OUTCOMES:
            self.drives.labels(principal, profile, outcome)
        self.audio_seconds.labels(principal, profile)
        for source in SOURCES:
            self.speaking_seconds.labels(principal, profile, source)

    def drive_finished(self, end: DriveEnd) -> None:
        """Count a drive that began (it held or waited for its task) and ended."""
        principal, profile = self.labels.of(end.tenant)
        completed = end.reason == "COMPLETED"
        self.drives.labels(principal, profile, "completed" if completed else "failed").inc()
        self.audio_seconds.labels(principal, profile).inc(end.billed_s)
        source = end.playback.finished
        if source is not None:
            self.speaking_seconds.labels(principal, profile, source.value).inc(end.played_s)
        if not completed:
            self.errors.labels(principal, profile, end.reason).inc()

    def drive_refused(self, reason: str, tenant: Tenant) -> None:
        """Count a drive refused before it began."""
        principal, profile = self.labels.of(tenant)
        self.drives.labels(principal, profile, "refused").inc()
        self.errors.labels(principal, profile, reason).inc()
