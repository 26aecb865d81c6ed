"""The Node client's dh-drive: ``npm ci`` when needed, ``tsc``, then ``node dist/cli.js``."""

from __future__ import annotations

import functools
import subprocess

from scripts.protogen.node import NODE_DIR, ensure_node_modules

#: A full tsc build of the client (generated code included) takes ~5 s; incremental after.
BUILD_TIMEOUT_S = 180


@functools.cache
def build() -> list[str]:
    ensure_node_modules()
    dist = NODE_DIR / "dist"
    if not (dist / "cli.js").is_file():
        # tsc --incremental trusts its build info: without the outputs it must start over.
        (dist / ".tsbuildinfo").unlink(missing_ok=True)
    subprocess.run(
        ["npm", "run", "--silent", "build"], cwd=NODE_DIR, check=True, timeout=BUILD_TIMEOUT_S
    )
    return ["node", str(dist / "cli.js")]
