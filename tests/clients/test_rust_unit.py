"""The Rust client's own unit tests (``cargo test``): ErrorInfo decoding, chunk sizing, flags."""

from __future__ import annotations

import subprocess

import pytest

from scripts.clients.lang_rust import BUILD_TIMEOUT_S, CRATE, TARGET, cargo


@pytest.mark.timeout(BUILD_TIMEOUT_S + 60)
def test_rust_unit_tests_pass() -> None:
    # The same profile as the dh-drive build, so the compiled dependencies are shared.
    result = subprocess.run(
        [cargo(), "test", "--locked", "--quiet", "--target-dir", str(TARGET)],
        cwd=CRATE,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test result: ok" in result.stdout
