"""Fuzz the Drive request stream over the real gateway and simulator (hypothesis).

Each case opens one or two Drive streams at once (on a small pool of tasks, so they conflict)
and sends frames as raw bytes: valid DriveRequests (configs with random and out-of-range
fields, audio of random sizes, empty requests, marks where the contract has them), the same
mutated (bytes flipped, cut, inserted) and bytes at random; then half-closes, cancels (at
once or after the first event), or goes quiet. After each case:

- every stream ended OK with ``Completed`` last, or with a status carrying an ErrorInfo whose
  reason maps to that status (CANCELLED only where the client cancelled);
- no drive is open at the simulator, and each drive that got Start got its Stop;
- no drive is live in the gateway and no task is held;
- the process's fd count and asyncio task count are back to their baseline;

each within a bounded wait. ``FUZZ_EXAMPLES`` sets the number of cases (default 100, what the
test command runs; ``make fuzz`` runs more). The outcomes are counted by status and reason and
printed at the end (``-s`` shows them; ``FUZZ_REPORT=path`` also writes them as JSON).
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Literal, cast

import grpc
from dhgateway.v1 import gateway_pb2 as pb
from dhgateway_client import DriveError
from dhgateway_client._status_fix import keep_server_status
from google.protobuf import duration_pb2
from hypothesis import HealthCheck, given, settings, strategies as st

from gateway.config import LimitsConfig
from gateway.errors import Reason
from gateway.registry.base import task_key
from gateway.service.status import STATUS_OF
from gateway.testing import Harness, running_gateway

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
REPORT = os.environ.get("FUZZ_REPORT", "")
TASKS = ("fz-a", "fz-b")
DRIVE = "/dhgateway.v1.DriveGateway/Drive"
#: The longest a case's stream may take to end (its drive's audio is at most a few seconds).
STREAM_TIMEOUT_S = 30.0
#: How long the gateway may take to let go of everything after a case.
SETTLE_TIMEOUT_S = 10.0
HAS_MARK = "mark" in pb.DriveRequest.DESCRIPTOR.fields_by_name

# Short deadlines, so that a stream that goes quiet ends within a second.
LIMITS = LimitsConfig.for_test(
    idle_timeout_s=0.5, config_timeout_s=0.5, queue_timeout_s=1.0, preempt_wait_s=1.0
)

End = Literal["half_close", "cancel", "cancel_after_event", "quiet"]
#: Most streams half-close, as clients do.
ENDS: list[End] = [
    "half_close",
    "half_close",
    "half_close",
    "half_close",
    "half_close",
    "cancel",
    "cancel_after_event",
    "quiet",
]


@dataclass
class Stream:
    """One Drive stream of a case: frames (bytes) and pauses (seconds), then how it ends."""

    steps: list[bytes | float]
    end: End


# Strategies. Sizes are small: each frame is far below the transport's message limit, and a
# drive's audio lasts well under two seconds at any rate.

_int32 = st.integers(-(2**31), 2**31 - 1)
_rates = st.one_of(st.sampled_from([0, 8000, 16000, 22050, 24000, 44100, 48000]), _int32)
_names = st.one_of(st.sampled_from(TASKS), st.text(max_size=12), st.text(min_size=250))


@st.composite
def durations(draw: st.DrawFn) -> duration_pb2.Duration:
    seconds = draw(
        st.one_of(
            st.integers(-2, 5),
            st.integers(-(2**63), 2**63 - 1),
            st.sampled_from([10**12, 10**15, 315_576_000_001]),
        )
    )
    nanos = draw(st.one_of(st.integers(-(10**9), 10**9), st.integers(-(2**31), 2**31 - 1)))
    return duration_pb2.Duration(seconds=seconds, nanos=nanos)


@st.composite
def configs(draw: st.DrawFn) -> pb.DriveConfig:
    config = pb.DriveConfig(
        task_id=draw(_names),
        # Enums are open in proto3: unknown values arrive too.
        input=pb.AudioFormat(
            encoding=cast("pb.Encoding.ValueType", draw(st.integers(-1, 6))),
            sample_rate_hz=draw(_rates),
            channels=draw(st.one_of(st.integers(0, 3), _int32)),
            voice_channel=cast("pb.VoiceChannel.ValueType", draw(st.integers(-1, 4))),
            keep_stereo=draw(st.booleans()),
        ),
        output_sample_rate_hz=draw(st.one_of(st.sampled_from([0, 16000, 24000]), _int32)),
        on_conflict=cast("pb.ConflictPolicy.ValueType", draw(st.integers(-1, 4))),
        labels=draw(
            st.dictionaries(
                st.text(max_size=70), st.text(max_size=260), max_size=draw(st.sampled_from([2, 20]))
            )
        ),
        profile=draw(st.one_of(st.just(""), st.just("default"), _names)),
    )
    if draw(st.booleans()):
        config.queue_timeout.CopyFrom(draw(durations()))
    return config


def _request_strategies() -> list[st.SearchStrategy[pb.DriveRequest]]:
    found = [
        configs().map(lambda c: pb.DriveRequest(config=c)),
        st.binary(max_size=1600).map(lambda a: pb.DriveRequest(audio=a)),
        st.just(pb.DriveRequest()),
    ]
    if HAS_MARK:
        found.append(st.text(max_size=300).map(lambda n: pb.DriveRequest(mark=pb.Mark(name=n))))
    return found


requests = st.one_of(*_request_strategies())


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid frame, then a few bytes changed, cut or inserted."""
    data = bytearray(draw(requests).SerializeToString())
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.integers(0, len(data)))
        how = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        if how == "flip" and where < len(data):
            data[where] ^= draw(st.integers(1, 255))
        elif how == "cut":
            del data[where : where + draw(st.integers(1, 4))]
        elif how == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=4))
        else:
            del data[where:]
    return bytes(data)


frames = st.one_of(
    requests.map(lambda r: r.SerializeToString()),
    mutated(),
    st.binary(max_size=64),
)


@st.composite
def plausible(draw: st.DrawFn) -> pb.DriveConfig:
    """A config a client could mean, on a pool task: mostly valid, some edges."""
    config = pb.DriveConfig(
        task_id=draw(st.sampled_from(TASKS)),
        input=pb.AudioFormat(
            encoding=cast("pb.Encoding.ValueType", draw(st.sampled_from([0, 1, 2, 4, 5]))),
            sample_rate_hz=draw(st.sampled_from([0, 8000, 16000, 24000, 48000])),
            channels=draw(st.sampled_from([0, 1, 1, 2])),
            voice_channel=cast("pb.VoiceChannel.ValueType", draw(st.integers(0, 3))),
        ),
        output_sample_rate_hz=draw(st.sampled_from([0, 0, 16000, 24000])),
        on_conflict=cast("pb.ConflictPolicy.ValueType", draw(st.integers(0, 3))),
        labels=draw(st.dictionaries(st.sampled_from("abc"), st.text(max_size=8), max_size=2)),
    )
    if draw(st.booleans()):
        config.queue_timeout.FromMilliseconds(draw(st.integers(100, 2000)))
    return config


@st.composite
def streams(draw: st.DrawFn) -> Stream:
    """Most streams open with a plausible config, as clients do; some with anything."""
    steps: list[bytes | float] = []
    opening = draw(st.sampled_from(["plausible"] * 6 + ["random"] * 3 + ["none"]))
    if opening != "none":
        config = draw(plausible() if opening == "plausible" else configs())
        steps.append(pb.DriveRequest(config=config).SerializeToString())
    audio = st.integers(0, 800).map(
        lambda n: pb.DriveRequest(audio=bytes(2 * n)).SerializeToString()
    )
    body = draw(st.lists(st.one_of(audio, audio, frames, st.floats(0, 0.03)), max_size=6))
    steps.extend(body)
    end = draw(st.sampled_from(ENDS))
    return Stream(steps, end)


cases = st.lists(streams(), min_size=1, max_size=2)


# Running a case.


@dataclass
class Outcome:
    """How one stream ended: ("OK", "COMPLETED"), (status, reason), or ("CANCELLED", "")."""

    code: str
    reason: str
    detail: str = ""


def _raw(data: bytes) -> bytes:
    return data


async def _events(call: grpc.aio.StreamStreamCall[bytes, bytes], seen: asyncio.Event) -> Outcome:
    last = ""
    while isinstance(message := await call.read(), bytes):
        last = pb.DriveEvent.FromString(message).WhichOneof("event") or ""
        seen.set()
    if last != "completed":
        return Outcome("OK", "NOT_COMPLETED", f"the last event was {last!r}")
    return Outcome("OK", "COMPLETED")


async def run_stream(harness: Harness, stream: Stream) -> Outcome:
    method = harness.channel.stream_stream(
        DRIVE, request_serializer=_raw, response_deserializer=_raw
    )
    call = method(None)
    keep_server_status(call)  # the server's status, not INTERNAL, when a write races its end
    seen = asyncio.Event()
    reading = asyncio.ensure_future(_events(call, seen))
    try:
        for step in stream.steps:
            if reading.done():
                break
            if isinstance(step, bytes):
                await call.write(step)
            else:
                await asyncio.sleep(step)
        if stream.end == "half_close" and not reading.done():
            await call.done_writing()
        elif stream.end == "cancel_after_event":
            waiter = asyncio.ensure_future(seen.wait())
            await asyncio.wait({reading, waiter}, timeout=2.0, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            call.cancel()
        elif stream.end == "cancel":
            call.cancel()
    except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
        pass  # a write after the gateway ended the stream: the status says why
    cancelled = stream.end in ("cancel", "cancel_after_event")
    try:
        async with asyncio.timeout(STREAM_TIMEOUT_S):
            return await reading
    except grpc.aio.AioRpcError as exc:
        error = DriveError.from_rpc_error(exc)
        if error.code is grpc.StatusCode.CANCELLED and cancelled and not error.reason:
            return Outcome("CANCELLED", "")
        return Outcome(error.code.name, error.reason, error.message)
    except asyncio.CancelledError:
        if cancelled and call.cancelled():
            return Outcome("CANCELLED", "")
        raise


@dataclass
class Baseline:
    fds: int
    tasks: int


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def measure() -> Baseline:
    return Baseline(_fds(), len(asyncio.all_tasks()))


async def settled(harness: Harness, baseline: Baseline) -> list[str]:
    """Wait (bounded) until the gateway let go of everything; what is still held, if anything."""
    app_id = harness.sim.config.app_id
    problems: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_TIMEOUT_S
    while True:
        problems = []
        if harness.app.drives:
            problems.append(f"{len(harness.app.drives)} drives live in the gateway")
        for task in TASKS:
            if harness.app.registry.holder(task_key(app_id, task)) is not None:
                problems.append(f"task {task} held")
        for record in harness.sim.drives:
            if record.connected_at is not None and record.closed_at is None:
                problems.append(f"drive {record.drive_id} open at the simulator")
            elif record.start is not None and record.stopped_at is None:
                problems.append(f"drive {record.drive_id} started without its Stop")
        if (fds := _fds()) > baseline.fds:
            problems.append(f"{fds} fds, baseline {baseline.fds}")
        if (tasks := len(asyncio.all_tasks())) > baseline.tasks:
            problems.append(f"{tasks} asyncio tasks, baseline {baseline.tasks}")
        if not problems or loop.time() > deadline:
            return problems
        await asyncio.sleep(0.02)


def check(outcome: Outcome, stream: Stream) -> None:
    if outcome.code == "CANCELLED" and not outcome.reason:
        assert stream.end in ("cancel", "cancel_after_event"), outcome
        return
    if outcome.code == "OK":
        assert outcome.reason == "COMPLETED", outcome
        return
    assert outcome.reason, f"a status without ErrorInfo: {outcome}"
    reason = Reason(outcome.reason)
    assert STATUS_OF[reason].name == outcome.code, outcome


@dataclass
class Tally:
    cases: int = 0
    streams: int = 0
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)

    def lines(self) -> Iterator[str]:
        yield f"fuzz: {self.cases} cases, {self.streams} streams"
        for key, count in self.outcomes.most_common():
            yield f"  {count:5d}  {key}"


async def run_case(harness: Harness, case: list[Stream], baseline: Baseline, tally: Tally) -> None:
    outcomes = await asyncio.gather(*(run_stream(harness, s) for s in case))
    problems = await settled(harness, baseline)
    harness.sim.reset()  # the next case starts from no records
    tally.cases += 1
    for outcome, stream in zip(outcomes, case, strict=True):
        tally.streams += 1
        tally.outcomes[f"{outcome.code} {outcome.reason}".strip()] += 1
        check(outcome, stream)
    assert not problems, problems


async def warm_up(harness: Harness) -> None:
    """Drives that open what the gateway keeps open (the vendor API's pooled connections)."""
    audio = pb.DriveRequest(audio=bytes(3200)).SerializeToString()
    quick = [pb.DriveRequest(config=pb.DriveConfig(task_id=t)).SerializeToString() for t in TASKS]
    for _ in range(2):
        outcomes = await asyncio.gather(
            *(run_stream(harness, Stream([c, audio], "half_close")) for c in quick)
        )
        assert all(o.reason == "COMPLETED" for o in outcomes), outcomes
    harness.sim.reset()


def test_fuzz_the_request_stream() -> None:
    tally = Tally()
    with asyncio.Runner() as runner:
        stack = AsyncExitStack()
        harness = runner.run(stack.enter_async_context(running_gateway(limits=LIMITS)))
        try:
            runner.run(warm_up(harness))
            baseline = runner.run(measure())

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            )
            @given(cases)
            def one_case(case: list[Stream]) -> None:
                runner.run(run_case(harness, case, baseline, tally))

            one_case()
        finally:
            runner.run(stack.aclose())
            summary = "\n".join(tally.lines())
            print(summary)
            if REPORT:
                with open(REPORT, "w") as out:
                    json.dump(
                        {
                            "cases": tally.cases,
                            "streams": tally.streams,
                            "outcomes": dict(tally.outcomes),
                        },
                        out,
                        indent=1,
                    )
