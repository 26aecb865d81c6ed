"""``python -m bench.gateway_probe --tasks-file F [dh-gateway args...]``: the gateway's own
command line (``gateway.cli.main``, what the ``dh-gateway`` script runs), plus a thread that
writes the process's count of live asyncio tasks to F once a second.

For the soak (:mod:`bench.soak`): the gateway's ``/metrics`` has no task count, and a task left
behind by every drive (a leak that RSS would show only after hours) is what a soak looks for.
The thread reads the interpreter's registry of tasks (``asyncio.tasks._all_tasks``, the set
``asyncio.all_tasks`` reads, which holds every loop's tasks, uvloop's included) and counts those
not done, as ``asyncio.all_tasks`` does; it touches nothing of the gateway's. F holds one
integer, replaced atomically; it is not written where the registry is not there (another Python).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from pathlib import Path

from gateway.cli import main as gateway_main
from gateway.malloc import limit_malloc_arenas

#: How often the count is written, and for how long at the most (a week: the thread is bounded).
EVERY_S = 1.0
MAX_WRITES = 7 * 24 * 3600


def live_tasks() -> int | None:
    """The asyncio tasks of this process not done yet (every loop's), or None where the
    interpreter keeps no registry of them."""
    registry = getattr(asyncio.tasks, "_all_tasks", None)
    if registry is None:
        return None
    for _ in range(1000):  # as asyncio.all_tasks: the loop's thread may add one meanwhile
        try:
            tasks = list(registry)
        except RuntimeError:
            continue
        return sum(1 for task in tasks if not task.done())
    return None


def _write_counts(path: Path, halt: threading.Event) -> None:
    scratch = path.with_name(path.name + ".tmp")
    for _ in range(MAX_WRITES):
        count = live_tasks()
        if count is not None:
            scratch.write_text(f"{count}\n")
            os.replace(scratch, path)
        if halt.wait(EVERY_S):
            return


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "--tasks-file":
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    path, rest = Path(argv[1]), argv[2:]
    # As ``dh-gateway serve`` does before its threads start: this thread comes first here, and
    # an arena it made before the bound would stay (the gateway's call again is harmless).
    limit_malloc_arenas()
    halt = threading.Event()
    writer = threading.Thread(
        target=_write_counts, args=(path, halt), name="soak task probe", daemon=True
    )
    writer.start()
    try:
        return gateway_main(rest)
    finally:
        halt.set()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
