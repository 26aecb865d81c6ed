"""The gateway's shared parts: configuration, the vendor client, the registry, the live drives.

One :class:`GatewayApp` per process; the servicer holds it. Whoever creates it closes it
(``async with GatewayApp(config) as app``). Entering it starts the metrics endpoint
(``/metrics``, ``/healthz``, ``/readyz`` on ``config.observability.metrics_listen``, unless
that is ""); closing it stops the endpoint.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from gateway import redis_extra
from gateway.admission.gate import AdmissionGate
from gateway.admission.gauge import LoadGauge
from gateway.config import Credentials, GatewayConfig
from gateway.config.model import lease_timing
from gateway.drive.machine import DriveState
from gateway.drive.outputs import Completion
from gateway.errors import DriveEnded, InvalidDrive, Reason
from gateway.observability.http import MetricsServer
from gateway.observability.metrics import GatewayMetrics
from gateway.observability.observer import NullObserver, Observer
from gateway.observability.tracer_setup import tracer_from_environ
from gateway.observability.usage import configured_tenants
from gateway.registry.base import TaskRegistry
from gateway.registry.memory import MemoryRegistry
from gateway.service.callbacks import CallbackRouter
from gateway.service.drive_list import DriveList, new_replica_id
from gateway.service.drive_services import DriveServices
from gateway.service.drive_shell import DriveShell
from gateway.service.shared_state import SharedStateProbe
from gateway.service.tasks import TaskService
from gateway.tasks.board import DriveBoard
from gateway.tasks.store import TaskStore
from gateway.upstream import Attempt, RequestLimiter, UpstreamClient
from gateway.upstream.warmup import ApiWarmer

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from gateway.registry.redis import RedisRegistry


class GatewayApp:
    """Everything the drives of one gateway process share.

    Args:
        config: the validated configuration.
        registry: the exclusivity registry (default: in-process).

    Attributes:
        admission: whether a new drive may begin (:mod:`gateway.admission`).
        metrics: the Prometheus metrics (None when ``metrics_listen`` is "").
        observer: where drives report their lifecycle (the metrics, or a no-op).
        metrics_address: where ``/metrics`` listens once started (the real port), else "".
        tracer: the drives' traces (OpenTelemetry when the ``OTEL_*`` environment asks for
            them, else a no-op); closing the app flushes them.
    """

    def __init__(self, config: GatewayConfig, *, registry: TaskRegistry | None = None) -> None:
        self.config = config
        #: Replicas share two things through Redis: the task registry (one task, one drive,
        #: whichever replica the client reached) and the vendor's request rate per AppId. The
        #: app owns (starts and closes) the client and a registry it made.
        self._redis: aioredis.Redis | None = None
        self._redis_registry: RedisRegistry | None = None
        limiter: RequestLimiter | None = None  # None: each process keeps the rate alone
        #: Whether Redis answers (None: no Redis); health and readiness follow it.
        self.shared_state: SharedStateProbe | None = None
        server = config.server
        if server.redis_url:
            # Imported here: redis-py is the optional `redis` extra (ConfigError without it).
            redis_extra.require()
            from gateway.registry.redis import RedisRegistry
            from gateway.registry.redis_client import shared_client
            from gateway.upstream.redis_limiter import RedisRateLimiter

            self._redis = shared_client(server.redis_url, timeout_s=server.redis_timeout_s)
            self.shared_state = SharedStateProbe(self._redis.ping)
            limiter = RedisRateLimiter(self._redis, config.upstream.requests_per_second)
            if registry is None:
                timing = lease_timing(server, config.upstream)
                registry = self._redis_registry = RedisRegistry(self._redis, timing=timing)
        self.registry: TaskRegistry = registry or MemoryRegistry()
        #: The live drives, audio and text.
        self.drives: set[DriveShell[Any]] = set()
        limits = config.limits
        self.admission = AdmissionGate(
            LoadGauge(max_cpu=limits.admit_max_cpu, max_loop_lag_ms=limits.admit_max_loop_lag_ms),
            max_drives=limits.max_drives,
            drives=lambda: self.drives,
        )
        self.metrics: GatewayMetrics | None = None
        self.observer: Observer = NullObserver()
        self._metrics_server: MetricsServer | None = None
        if config.observability.metrics_listen:
            self.metrics = GatewayMetrics(
                self._live_counts,
                load=self.admission.load_now,
                usage_label_limit=config.observability.usage_label_limit,
                tenants=configured_tenants(config.auth, config.profiles),
            )
            self.observer = self.metrics
            self._metrics_server = MetricsServer(self.metrics.registry, self.ready)
        self.tracer = tracer_from_environ(os.environ, default_profile=config.default_profile)
        self.upstream = UpstreamClient(
            config.upstream, limiter=limiter, on_attempt=self._on_attempt
        )
        self._warmer = ApiWarmer(self.upstream, config.upstream.api_warm_interval_s)
        #: This process's id among the replicas (ListDrives and GetTask name it per drive).
        self.replica = new_replica_id()
        store = None
        board = None
        if self._redis is not None:
            store = TaskStore(
                self._redis,
                replica=self.replica,
                drive_ttl_s=2 * limits.max_drive_s,  # a wait and a drive, each at most that
                timeout_s=server.redis_timeout_s,
            )
            # Published with a lease's TTL and renewal: a dead replica's drives lapse with it.
            board = DriveBoard(
                self._redis,
                replica=self.replica,
                drives=lambda: self.drive_list.here(),
                ttl_s=server.lease_ttl_s,
                refresh_s=server.lease_renew_s,
                timeout_s=server.redis_timeout_s,
            )
        #: What ListDrives lists: this process's drives, and with Redis every replica's.
        self.drive_list = DriveList(self.replica, lambda: self.drives, board)
        #: The tasks' lives: GetTask, WatchTask, and what a task's end does to its drives.
        self.tasks = TaskService(
            self.upstream, lambda: self.drives, store=store, replica=self.replica
        )
        #: The vendor's callbacks (None: not received; playback is the estimate alone).
        self.callbacks: CallbackRouter | None = None
        grace_s = 0.0
        drives_registry = self.registry
        if config.server.callback_listen:
            # With Redis, each callback reaches the replica running its drive.
            self.callbacks = CallbackRouter(
                config,
                lambda: self.drives,
                redis=self._redis,
                relay_observer=self.metrics,
                on_task=self.tasks.called_back,
            )
            grace_s = config.server.callback_grace_ms / 1000
            drives_registry = self.callbacks.naming(self.registry)
        #: What each drive is handed: the shared parts it uses, not the app.
        self.drive_services = DriveServices(
            registry=drives_registry,
            upstream=self.upstream,
            connection=config.upstream,
            observer=self.observer,
            limits=config.limits,
            pacing=config.pacing,
            vendor_grace_s=grace_s,
            explain_end=self.tasks.explain,
            tracer=self.tracer,
        )
        self._started = False

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Start the metrics endpoint (if configured) and the load sampler; ``async with``
        calls it."""
        self.admission.start()
        if self._metrics_server is not None and not self._started:
            await self._metrics_server.start(self.config.observability.metrics_listen)
        if self._redis_registry is not None:
            await self._redis_registry.start()
        if self.drive_list.board is not None:
            self.drive_list.board.start()
        if self.shared_state is not None:
            self.shared_state.start()
        if self.callbacks is not None and not self._started:
            await self.callbacks.start()
        self._warmer.start()
        self._started = True

    @property
    def metrics_address(self) -> str:
        return self._metrics_server.address if self._metrics_server is not None else ""

    def ready(self) -> bool:
        """Whether new drives are welcome: started, not draining, and the shared state (if
        any) answering (``/readyz``, gRPC health).

        The gRPC listener starts right after the app (``start_server``); a failure there ends
        the process, so "started" stands for "serving".
        """
        shared_up = self.shared_state is None or self.shared_state.up
        return self._started and not self.admission.draining and shared_up

    async def close(self) -> None:
        """Stop the metrics endpoint and close the vendor client; drives must have ended."""
        self._started = False
        if self.callbacks is not None:
            await self.callbacks.stop()
        if self.shared_state is not None:
            await self.shared_state.stop()
        await self.admission.stop()
        try:
            if self._metrics_server is not None:
                await self._metrics_server.stop()
        finally:
            await self._warmer.stop()
            await self.upstream.close()
            # The task facts' last writes (a drive's end) finish before their client closes.
            await self.tasks.close()
            if self.drive_list.board is not None:
                await self.drive_list.board.close()
            if self._redis_registry is not None:
                await self._redis_registry.close()
            if self._redis is not None:
                await self._redis.aclose()
            await self.tracer.close()

    def credentials(self, profile: str) -> Credentials:
        """The credentials of ``profile`` ("" = default).

        Raises:
            InvalidDrive: UNKNOWN_PROFILE.
        """
        found = self.config.credentials(profile)
        if found is None:
            raise InvalidDrive(Reason.UNKNOWN_PROFILE, f"no credentials profile named {profile!r}")
        return found

    def admit(self) -> None:
        """Check that a new drive may begin (:class:`~gateway.admission.gate.AdmissionGate`).

        Raises:
            DriveEnded: DRAINING while shutting down; GATEWAY_BUSY at the drive limit;
                GATEWAY_OVERLOADED while the process is past its measured capacity.
        """
        self.admission.admit()

    async def run(self, drive: DriveShell[Any]) -> Completion:
        """Run ``drive`` as one of this gateway's live drives."""
        self.admission.drive_began()
        self.drives.add(drive)
        self.drive_list.began(drive)
        try:
            return await drive.run()
        finally:
            self.drives.discard(drive)
            self.drive_list.ended(drive)
            if self.callbacks is not None:
                self.callbacks.drive_ended(drive.drive_id)

    @property
    def draining(self) -> bool:
        """Whether the gateway is shutting down (new drives get DRAINING)."""
        return self.admission.draining

    def start_draining(self) -> None:
        """Refuse new drives from now on (DRAINING) and report not ready; live drives go on."""
        self.admission.start_draining()

    def end_all(self, reason: DriveEnded) -> None:
        """End every live drive (Stop sent) with ``reason``."""
        for drive in list(self.drives):
            drive.end(reason)

    # Observability.

    def _live_counts(self) -> tuple[int, int]:
        queued = sum(1 for d in self.drives if d.state is DriveState.QUEUED)
        return len(self.drives) - queued, queued

    def _on_attempt(self, attempt: Attempt) -> None:
        self.observer.upstream_attempt(attempt)
        if attempt.waited_s > 0:
            self.observer.limiter_waited(attempt.waited_s)
