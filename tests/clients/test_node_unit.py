"""The Node client's own unit tests (node's built-in test runner on the compiled tests)."""

from __future__ import annotations

import re
import subprocess

from scripts.clients.lang_node import build
from scripts.protogen.node import NODE_DIR

#: The suite takes ~4 s (it runs a grpc-js server in-process); bounded well above that.
UNIT_TIMEOUT_S = 90


def test_node_unit_tests_pass() -> None:
    build()
    tests = sorted(
        str(p.relative_to(NODE_DIR)) for p in (NODE_DIR / "dist" / "test").glob("*.test.js")
    )
    assert tests, "no compiled node tests"
    result = subprocess.run(
        ["node", "--test", *tests],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=UNIT_TIMEOUT_S,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    passed = re.search(r"^# pass (\d+)$", result.stdout, re.MULTILINE)
    assert passed is not None and int(passed.group(1)) > 0, output
    assert re.search(r"^# fail 0$", result.stdout, re.MULTILINE), output
