"""``python -m bench [--quick]``: the gateway against the direct path, on this machine.

Writes ``bench/results/latest.json``, ``latest.md`` (the table the README shows) and
``latest.png`` (latency and CPU against concurrency, gateway vs direct).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from bench.report import markdown_table, plot
from bench.run import ROOT, SCENARIOS, build_loadgen, run_ladder

FULL = {
    "20ms": [50, 100, 150, 200, 300],
    "100ms": [200, 400, 800],
    "48k-stereo-float": [50, 100, 150],
}
QUICK = {"20ms": [50, 100]}


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
    args = parser.parse_args(argv)
    ladder = QUICK if args.quick else FULL
    seconds = args.seconds or (10.0 if args.quick else 20.0)
    build_loadgen()
    began = time.time()
    results = run_ladder([SCENARIOS[name] for name in ladder], ladder, seconds=seconds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "quick" if args.quick else "latest"
    document = {
        "command": "make bench" + (" QUICK=1" if args.quick else ""),
        "machine": machine(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(began)),
        "seconds_per_rung": seconds,
        "results": results,
    }
    (out / f"{name}.json").write_text(json.dumps(document, indent=1) + "\n")
    (out / f"{name}.md").write_text(markdown_table(document))
    plot(document, out / f"{name}.png")
    print(f"wrote {out / name}.json, .md, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
