"""Build every client language's dh-drive before the tests (installs their dependencies).

Run by ``make test`` ahead of pytest, so a cold build (modules, npm packages, Maven artifacts,
crates) is not charged to a test's time limit; each ``build()`` is idempotent, so the test
fixtures' own calls are then instant.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.clients import client_command, language_names


def main() -> int:
    for language in language_names():
        began = time.monotonic()
        command = client_command(language)
        print(f"{language}: {' '.join(command)} ({time.monotonic() - began:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
