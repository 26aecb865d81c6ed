"""The gateway's Prometheus metrics, in a registry of their own.

One :class:`GatewayMetrics` per :class:`~gateway.service.app.GatewayApp`, each with its own
``CollectorRegistry`` (never the process-global one), so that tests and several apps in one
process do not collide. It implements :class:`~gateway.observability.observer.Observer`: the
drive shell feeds it at lifecycle points, never per chunk. The gauges of live drives are read
from the app at scrape time, so no code path has to keep them balanced.

Names (``dhgw_`` is the gateway's; the ``grpc_server_*`` families of
:mod:`~gateway.observability.rpc_metrics` follow go-grpc-prometheus so that existing
dashboards work; prometheus_client's ``process_*`` and ``python_*`` collectors are
registered too):

=============================================  =========  ==================================
name                                           type       labels
=============================================  =========  ==================================
``dhgw_drives_active``                         gauge
``dhgw_drives_queued``                         gauge
``dhgw_load_cpu_ratio``                        gauge
``dhgw_event_loop_lag_seconds``                gauge
``dhgw_admission_capacity_drives``             gauge
``dhgw_drives_finished_total``                 counter    status, reason
``dhgw_drives_refused_total``                  counter    reason
``dhgw_drive_setup_seconds``                   histogram
``dhgw_drive_stop_lag_seconds``                histogram
``dhgw_drive_playout_wait_seconds``            histogram
``dhgw_time_to_first_frame_seconds``           histogram
``dhgw_time_to_speaking_seconds``              histogram
``dhgw_playback_events_total``                 counter    event (started, finished, mark),
                                                          source (estimated, vendor)
``dhgw_playback_skew_seconds``                 histogram  edge (started, finished),
                                                          direction (late, early)
``dhgw_audio_received_seconds_total``          counter
``dhgw_audio_sent_seconds_total``              counter
``dhgw_ws_frames_sent_total``                  counter
``dhgw_underruns_total``                       counter
``dhgw_upstream_api_seconds``                  histogram  action
``dhgw_upstream_api_responses_total``          counter    action, code
``dhgw_upstream_ws_connects_total``            counter    outcome (ok, failed)
``dhgw_upstream_ws_drops_total``               counter
``dhgw_upstream_limiter_waits_total``          counter
``dhgw_upstream_limiter_wait_seconds_total``   counter
``dhgw_callbacks_relayed_total``               counter    event_type (3, 4), outcome (here,
                                                          relayed, ended, duplicate, replayed,
                                                          unknown, unplaced, unshared)
``dhgw_callbacks_relay_applied_total``         counter    event_type
``dhgw_callback_relay_listening``              gauge
``dhgw_callback_relay_subscriptions_total``    counter
``dhgw_usage_drives_total``, ``_errors_total``  counter    principal, profile, outcome / reason
``dhgw_usage_audio_seconds_total``             counter    principal, profile
``dhgw_usage_speaking_seconds_total``          counter    principal, profile, source
=============================================  =========  ==================================

The ``dhgw_usage_*`` families count per API key and credentials profile, capped in labels
(:mod:`~gateway.observability.usage`).

No ``_created`` series: constructing :class:`GatewayMetrics` turns them off for the process
(prometheus_client's switch is process-wide), as the text format's scrapers ignore them and
each doubles a counter's or histogram's series.

The skew is the vendor's callback time minus the estimate's, split by its sign into
``direction`` (late: the vendor said it after the estimate) and observed as a magnitude: a
histogram of negative values would make ``_sum`` go down, which ``rate()`` reads as a reset,
and the rare early case (the playhead model behind the avatar) is worth its own series. A
finish the vendor confirms later than ``server.callback_grace_ms`` is not observed: the drive
reported the estimate and is gone (``dhgw_playback_events_total{source="estimated"}`` counts it).

With Redis, the callbacks a replica received are counted where they were received by how they
were placed (``dhgw_callbacks_relayed_total``; :mod:`gateway.service.callback_relay` names the
outcomes), and where another replica's were applied (``dhgw_callbacks_relay_applied_total``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from gateway.observability.observer import DriveEnd, Tenant
from gateway.observability.rpc_metrics import RpcMetrics
from gateway.observability.usage import UsageMetrics
from gateway.upstream import Attempt

__all__ = ["GatewayMetrics", "LiveCounts"]

LiveCounts = Callable[[], tuple[int, int]]
"""Returns (active, queued): the live drives holding their task, and those waiting for it."""
LoadNow = Callable[[], tuple[float, float, int | None]]
"""Returns (share of one core, mean event-loop lag in seconds) over the last second, and the
drives admission would allow at the cost per drive it measured (None: no estimate yet)."""

#: From the config message to Start: an API call and a WebSocket handshake, plus any wait.
SETUP_BUCKETS_S = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
#: From the last audio frame to Stop: should be a few milliseconds (the avatar waits for it).
STOP_LAG_BUCKETS_S = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
#: One request to the vendor's API (our limiter's wait excluded).
API_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: The vendor's word against the estimate: render latency plus the callback's trip, from a
#: millisecond to beyond the grace window (a late start is still observed).
SKEW_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: From the Stop to PlaybackFinished: the audio still ahead of the avatar (at most the pacing
#: lead, 1 s by default) plus the wait for the vendor's word (at most the grace window).
PLAYOUT_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0)
#: From the config to the first frame, or to PlaybackStarted: the set-up plus the client's first
#: audio (and the pacer's prebuffer, the wait for the vendor's word); tens of ms on a warm path.
SPEAK_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


class GatewayMetrics:
    """Every metric of one gateway, and the :class:`Observer` that feeds them.

    Args:
        live: (active, queued) drives, read at scrape time; None reads zeros.
        load: the process's load (admission's measures), read at scrape time; None: zeros.
        registry: where to register; a fresh ``CollectorRegistry`` by default. Never the
            process-global one: the ``process_*`` and ``python_*`` collectors are already there.
        usage_label_limit: how many (API key, profile) pairs the usage families label
            (``observability.usage_label_limit``).
        tenants: the pairs the configuration allows, whose usage series start at 0.
    """

    def __init__(
        self,
        live: LiveCounts | None = None,
        *,
        load: LoadNow | None = None,
        registry: CollectorRegistry | None = None,
        usage_label_limit: int = 100,
        tenants: Iterable[Tenant] = (),
    ) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in the library
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        counts = live or (lambda: (0, 0))
        self.drives_active = Gauge(
            "dhgw_drives_active", "Drives holding their task (setting up or streaming).", registry=r
        )
        self.drives_active.set_function(lambda: counts()[0])
        self.drives_queued = Gauge(
            "dhgw_drives_queued", "Drives waiting for their task (QUEUE policy).", registry=r
        )
        self.drives_queued.set_function(lambda: counts()[1])
        load_now = load or (lambda: (0.0, 0.0, None))
        self.load_cpu_ratio = Gauge(
            "dhgw_load_cpu_ratio",
            "Share of one core this process used over the last second (admission's measure).",
            registry=r,
        )
        self.load_cpu_ratio.set_function(lambda: load_now()[0])
        self.event_loop_lag = Gauge(
            "dhgw_event_loop_lag_seconds",
            "Mean lateness of the event loop's timers over the last second.",
            registry=r,
        )
        self.event_loop_lag.set_function(lambda: load_now()[1])
        self.admission_capacity = Gauge(
            "dhgw_admission_capacity_drives",
            "Drives this process can take before admission refuses, at the CPU cost per drive "
            "measured over the last second (NaN until 10 drives ran for a second).",
            registry=r,
        )
        self.admission_capacity.set_function(_or_nan(lambda: load_now()[2]))
        self.drives_finished = Counter(
            "dhgw_drives_finished",
            "Drives ended, by gRPC status and reason (COMPLETED for OK).",
            ["status", "reason"],
            registry=r,
        )
        self.drives_refused = Counter(
            "dhgw_drives_refused",
            "Drives refused before they began (GATEWAY_BUSY, GATEWAY_OVERLOADED, DRAINING...).",
            ["reason"],
            registry=r,
        )
        self.setup_seconds = Histogram(
            "dhgw_drive_setup_seconds",
            "From the DriveConfig to the Start command (the client's wait; Started.setup_ms).",
            buckets=SETUP_BUCKETS_S,
            registry=r,
        )
        self.stop_lag_seconds = Histogram(
            "dhgw_drive_stop_lag_seconds",
            "From the last audio frame to the Stop command.",
            buckets=STOP_LAG_BUCKETS_S,
            registry=r,
        )
        self.playout_wait_seconds = Histogram(
            "dhgw_drive_playout_wait_seconds",
            "From the Stop to PlaybackFinished: how long a completed drive's stream stayed "
            "open after the client's half-close for the avatar to finish.",
            buckets=PLAYOUT_BUCKETS_S,
            registry=r,
        )
        self.time_to_first_frame_seconds = Histogram(
            "dhgw_time_to_first_frame_seconds",
            "From the DriveConfig to the first audio frame sent to the vendor "
            "(Completed.time_to_first_frame_ms), for every drive that sent one.",
            buckets=SPEAK_BUCKETS_S,
            registry=r,
        )
        self.time_to_speaking_seconds = Histogram(
            "dhgw_time_to_speaking_seconds",
            "From the DriveConfig to PlaybackStarted (Completed.time_to_speaking_ms), for every "
            "drive whose avatar began to speak.",
            buckets=SPEAK_BUCKETS_S,
            registry=r,
        )
        self.playback_events = Counter(
            "dhgw_playback_events",
            "Playback events reported (counted when each drive ends), by event and source "
            "(vendor: confirmed by its callback within the grace window).",
            ["event", "source"],
            registry=r,
        )
        self.playback_skew_seconds = Histogram(
            "dhgw_playback_skew_seconds",
            "How far the vendor's callback (Status 2 driving, 4 ended) was from the estimated "
            "start or finish of playback; direction late: the vendor's came after.",
            ["edge", "direction"],
            buckets=SKEW_BUCKETS_S,
            registry=r,
        )
        self.audio_received_seconds = Counter(
            "dhgw_audio_received_seconds",
            "Seconds of client audio received (counted when each drive ends).",
            registry=r,
        )
        self.audio_sent_seconds = Counter(
            "dhgw_audio_sent_seconds",
            "Seconds of audio sent to the vendor (counted when each drive ends).",
            registry=r,
        )
        self.frames_sent = Counter(
            "dhgw_ws_frames_sent", "WebSocket audio frames sent to the vendor.", registry=r
        )
        self.underruns = Counter(
            "dhgw_underruns", "Times the avatar ran out of audio (a stutter).", registry=r
        )
        self.api_seconds = Histogram(
            "dhgw_upstream_api_seconds",
            "One request to the vendor's API, from sending to its outcome.",
            ["action"],
            buckets=API_BUCKETS_S,
            registry=r,
        )
        self.api_responses = Counter(
            "dhgw_upstream_api_responses",
            "Vendor API attempts by Code (http_<status> without an envelope, transport "
            "without an answer).",
            ["action", "code"],
            registry=r,
        )
        self.ws_connects = Counter(
            "dhgw_upstream_ws_connects",
            "WebSocket handshakes to the vendor, by outcome (ok, failed).",
            ["outcome"],
            registry=r,
        )
        self.ws_drops = Counter(
            "dhgw_upstream_ws_drops", "Vendor WebSockets lost mid-drive.", registry=r
        )
        self.limiter_waits = Counter(
            "dhgw_upstream_limiter_waits",
            "API requests that waited for the request-rate limiter.",
            registry=r,
        )
        self.limiter_wait_seconds = Counter(
            "dhgw_upstream_limiter_wait_seconds",
            "Seconds API requests waited for the request-rate limiter.",
            registry=r,
        )
        self._callback_relay_metrics()
        self.rpc = RpcMetrics(r)
        self.usage = UsageMetrics(r, usage_label_limit, tenants)
        for outcome in ("ok", "failed"):
            self.ws_connects.labels(outcome)  # present at 0 from the first scrape
        for event in ("started", "finished"):
            for source in ("estimated", "vendor"):
                self.playback_events.labels(event, source)
        self.playback_events.labels("mark", "estimated")

    def _callback_relay_metrics(self) -> None:
        r = self.registry
        self.callbacks_relayed = Counter(
            "dhgw_callbacks_relayed",
            "Vendor callbacks this replica received, by how the relay placed them (here: "
            "applied here; relayed: sent to the replica(s) concerned; unplaced: answered 503).",
            ["event_type", "outcome"],
            registry=r,
        )
        self.callbacks_relay_applied = Counter(
            "dhgw_callbacks_relay_applied",
            "Vendor callbacks another replica received, applied here.",
            ["event_type"],
            registry=r,
        )
        self.relay_listening = Gauge(
            "dhgw_callback_relay_listening",
            "1 while the callback relay's subscription is up, else 0.",
            registry=r,
        )
        self.relay_subscriptions = Counter(
            "dhgw_callback_relay_subscriptions",
            "Times the callback relay subscribed: once at start, again after each loss of Redis.",
            registry=r,
        )

    # The callback relay's RelayObserver.

    def callback_relayed(self, event_type: int, outcome: str) -> None:
        self.callbacks_relayed.labels(str(event_type), outcome).inc()

    def callback_relay_applied(self, event_type: int) -> None:
        self.callbacks_relay_applied.labels(str(event_type)).inc()

    def callback_relay_listening(self, listening: bool) -> None:
        self.relay_listening.set(1 if listening else 0)
        if listening:
            self.relay_subscriptions.inc()

    # Observer.

    def drive_queued(self) -> None:
        pass  # the gauge reads the live drives; the log line says the rest

    def drive_started(self, setup_s: float) -> None:
        self.setup_seconds.observe(setup_s)

    def drive_finished(self, end: DriveEnd) -> None:
        self.drives_finished.labels(end.status, end.reason).inc()
        self.audio_received_seconds.inc(end.received_s)
        self.audio_sent_seconds.inc(end.sent_s)
        self.frames_sent.inc(end.frames_sent)
        self.underruns.inc(end.underruns)
        if end.stop_lag_s is not None:
            self.stop_lag_seconds.observe(end.stop_lag_s)
        if end.dropped:
            self.ws_drops.inc()
        self._observe_playback(end)
        self.usage.drive_finished(end)

    def _observe_playback(self, end: DriveEnd) -> None:
        played = end.playback
        for event, source in (("started", played.started), ("finished", played.finished)):
            if source is not None:
                self.playback_events.labels(event, source.value).inc()
        if played.marks:
            self.playback_events.labels("mark", "estimated").inc(played.marks)
        for edge, skew in (("started", played.start_skew_s), ("finished", played.end_skew_s)):
            if skew is not None:
                direction = "early" if skew < 0 else "late"
                self.playback_skew_seconds.labels(edge, direction).observe(abs(skew))
        if end.playout_wait_s is not None:
            self.playout_wait_seconds.observe(end.playout_wait_s)
        if end.time_to_first_frame_s is not None:
            self.time_to_first_frame_seconds.observe(end.time_to_first_frame_s)
        if end.time_to_speaking_s is not None:
            self.time_to_speaking_seconds.observe(end.time_to_speaking_s)

    def drive_refused(self, reason: str, tenant: Tenant | None = None) -> None:
        self.drives_refused.labels(reason).inc()
        self.usage.drive_refused(reason, tenant or Tenant())

    def ws_connect(self, *, ok: bool) -> None:
        self.ws_connects.labels("ok" if ok else "failed").inc()

    def limiter_waited(self, wait_s: float) -> None:
        self.limiter_waits.inc()
        self.limiter_wait_seconds.inc(wait_s)

    def upstream_attempt(self, attempt: Attempt) -> None:
        self.api_seconds.labels(attempt.action).observe(attempt.elapsed_s)
        self.api_responses.labels(attempt.action, _code_label(attempt)).inc()


def _code_label(attempt: Attempt) -> str:
    if attempt.code is not None:
        return str(attempt.code)
    if attempt.http_status is not None:
        return f"http_{attempt.http_status}"
    return "transport"


def _or_nan(read: Callable[[], int | None]) -> Callable[[], float]:
    """``read``'s value, NaN for None (Prometheus' "no value now")."""

    def value() -> float:
        found = read()
        return float("nan") if found is None else float(found)

    return value
