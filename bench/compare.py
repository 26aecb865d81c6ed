"""``python -m bench.compare REV [--streams N] [--reps K]``: this checkout's gateway against
the gateway at git revision REV, on the same rung, interleaved, in one command.

For a hot-path change: the VM's noise (10-20 % between runs) is larger than most single
improvements, so the two gateways run alternately (before, now, before, now...) on fresh
processes, and the medians are compared. REV is checked out into a temporary git worktree
and put first on ``PYTHONPATH``, so its gateway and simulator run (the generated protobuf
code, the load generator and this harness are this checkout's). Admission by load is off for
both (a revision may predate it, and refusals would change the load).

``--env NAME=VALUE`` (repeatable) sets a variable for this checkout's runs only: with REV at
HEAD, it measures a setting against the defaults (``--env DHGW_PROGRESS_INTERVAL_MS=1000``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.metrics import StepResult
from bench.run import ROOT, SCENARIOS, build_loadgen, run_step


@contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """REV checked out in a temporary worktree (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="dhgw-compare-") as tmp:
        path = Path(tmp) / "rev"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(path), rev], cwd=ROOT, check=True
        )
        try:
            yield path
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT)


def _row(label: str, step: StepResult) -> str:
    return (
        f"{label:>7}: {step.gateway_us_per_chunk:6.1f} us per chunk, "
        f"{step.cpu_pct.get('gateway', float('nan')):3.0f} % CPU, "
        f"p99 {step.latency_p99_ms:5.1f} ms, "
        f"underruns {step.underruns} in {step.underrun_events} events, "
        f"{step.gateway_kib_per_stream:5.1f} KiB per stream"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("rev", help="the git revision to compare against (e.g. HEAD~3)")
    parser.add_argument("--scenario", default="20ms", choices=list(SCENARIOS))
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a variable for this checkout's runs only (repeatable)",
    )
    args = parser.parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.env)
    build_loadgen()
    os.environ["DHGW_ADMIT_MAX_CPU"] = "0"
    os.environ["DHGW_ADMIT_MAX_LOOP_LAG_MS"] = "0"
    steps: dict[str, list[StepResult]] = {"before": [], "now": []}
    with worktree(args.rev) as before:
        for rep in range(args.reps):
            for label, source in (("before", before), ("now", ROOT)):
                os.environ["PYTHONPATH"] = str(source)
                for name, value in extra.items():
                    if label == "now":
                        os.environ[name] = value
                    else:
                        os.environ.pop(name, None)
                step = run_step(
                    SCENARIOS[args.scenario], args.streams, mode="gateway", seconds=args.seconds
                )
                steps[label].append(step)
                print(_row(f"{label} {rep}", step), flush=True)

    def median(key: str) -> dict[str, float]:
        return {
            label: statistics.median(getattr(s, key) for s in runs) for label, runs in steps.items()
        }

    cpu, p99, kib = (
        median(key) for key in ("gateway_us_per_chunk", "latency_p99_ms", "gateway_kib_per_stream")
    )
    settings = "".join(f" {name}={value}" for name, value in extra.items())
    print(
        f"{args.scenario} x {args.streams}{settings}, {args.reps} runs each (medians): "
        f"CPU per chunk {cpu['before']:.1f} -> {cpu['now']:.1f} us "
        f"({cpu['now'] / cpu['before']:.2f}x), "
        f"p99 {p99['before']:.1f} -> {p99['now']:.1f} ms, "
        f"RSS per stream {kib['before']:.1f} -> {kib['now']:.1f} KiB "
        f"({kib['now'] / kib['before']:.2f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
