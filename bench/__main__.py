"""``python -m bench [--quick] [--only SCENARIO] [--[no-]prototype]``: the gateway against
the bare prototype of the pipeline (:mod:`bench.prototype`) and the direct path, on this
machine.

The prototype runs on every rung of the scenarios it can carry (``20ms`` and ``100ms``: it
converts nothing and runs as one process); ``--quick`` leaves it out unless ``--prototype``
asks for it (it would take the quick run past a minute). Writes ``bench/results/latest.json``
(every rung of every path, and ``ratios``: the gateway's p99 and CPU per chunk over the
baselines'), ``latest.md`` (the table docs/performance.md shows) and ``latest.png`` (latency and CPU
against concurrency, per path); ``quick.*`` with ``--quick``. ``--only 20ms-2proc`` runs one
scenario's rungs and writes ``latest-20ms-2proc.*`` (``quick-…`` with ``--quick``), leaving
the full results alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from bench.metrics import gateway_ratios
from bench.report import markdown_table, plot
from bench.run import ROOT, SCENARIOS, build_loadgen, run_ladder

FULL = {
    "20ms": [50, 100, 150, 200, 300, 400],
    "100ms": [200, 400, 800, 1200],
    "48k-stereo-float": [50, 100, 150],
    # The gateway as two processes on one port (SO_REUSEPORT) sharing a Redis registry.
    "20ms-2proc": [150, 200, 300],
}
QUICK = {"20ms": [50, 100]}


def choose_ladder(*, quick: bool, only: str | None) -> dict[str, list[int]]:
    """The scenarios and rungs to run: the full or quick ladder, or one scenario of it
    (``only``: its quick rungs with ``quick`` when it has some, else its full ones).

    Raises:
        ValueError: ``only`` is not a scenario of the full ladder.
    """
    ladder = QUICK if quick else FULL
    if only is None:
        return dict(ladder)
    if only not in FULL:
        raise ValueError(f"unknown scenario {only!r}: one of {', '.join(FULL)}")
    return {only: list(ladder.get(only) or FULL[only])}


def machine() -> str:
    """One line about where the numbers come from."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0))
    return f"{cpu}, {cores} cores, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="two small rungs, 10 s each")
    parser.add_argument("--seconds", type=float, help="steady seconds per rung (default 20)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="output folder")
    parser.add_argument(
        "--only", choices=list(FULL), metavar="SCENARIO",
        help=f"run one scenario only ({', '.join(FULL)}); writes <name>-SCENARIO.*",
    )  # fmt: skip
    parser.add_argument(
        "--prototype", action=argparse.BooleanOptionalAction,
        help="run the bare prototype too, where it fits (default: yes, but not with --quick)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    with_prototype = not args.quick if args.prototype is None else args.prototype
    ladder = choose_ladder(quick=args.quick, only=args.only)
    seconds = args.seconds or (10.0 if args.quick else 20.0)
    build_loadgen()
    began = time.time()
    results = run_ladder(
        [SCENARIOS[name] for name in ladder], ladder, seconds=seconds, with_prototype=with_prototype
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = ("quick" if args.quick else "latest") + (f"-{args.only}" if args.only else "")
    command = "make bench" + (" QUICK=1" if args.quick else "")
    if args.only or args.prototype is not None:
        command = "python -m bench" + (" --quick" if args.quick else "")
        command += f" --only {args.only}" if args.only else ""
        if args.prototype is not None:
            command += " --prototype" if args.prototype else " --no-prototype"
    document = {
        "command": command,
        "machine": machine(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(began)),
        "seconds_per_rung": seconds,
        "results": results,
        "ratios": [ratios.as_dict() for ratios in gateway_ratios(results)],
    }
    (out / f"{name}.json").write_text(json.dumps(document, indent=1) + "\n")
    (out / f"{name}.md").write_text(markdown_table(document))
    plot(document, out / f"{name}.png")
    print(f"wrote {out / name}.json, .md, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
