"""Where each kind of gateway build takes ``dh-gateway-client`` from (scripts/build_backend.py).

The builds themselves, and installing what they make, are tests/test_packaging.py (slow).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scripts import build_backend
from scripts.build_backend import SETTING, VARIABLE, client, direct_reference, from_tree


def test_a_wheel_of_a_tree_with_the_client_takes_the_trees() -> None:
    assert (build_backend.CLIENT / "pyproject.toml").is_file()
    assert from_tree(None, default=True)
    assert direct_reference() == f"dh-gateway-client @ {build_backend.CLIENT.as_uri()}"


def test_an_editable_install_takes_it_by_name_unless_asked() -> None:
    assert not from_tree(None, default=False)
    assert from_tree({SETTING: "tree"}, default=False)


def test_pinned_is_asked_for_by_a_config_setting() -> None:
    assert not from_tree({SETTING: "pinned"}, default=True)
    assert not from_tree({"--build-option": "x"}, default=False)
    with pytest.raises(ValueError, match="expected 'tree' or 'pinned'"):
        from_tree({SETTING: "index"}, default=True)


def test_without_the_client_beside_it_is_pinned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An sdist has no clients/python: its wheel requires the client by name."""
    monkeypatch.setattr(build_backend, "CLIENT", tmp_path / "clients" / "python")
    assert not from_tree(None, default=True)
    with pytest.raises(ValueError, match="no client project"):
        from_tree({SETTING: "tree"}, default=True)


def test_the_requirement_is_handed_to_setup_py_for_the_block_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(VARIABLE, "set by someone")
    with client(True):
        assert os.environ[VARIABLE] == direct_reference()
    with client(False):
        assert VARIABLE not in os.environ  # setup.py pins it
    assert os.environ[VARIABLE] == "set by someone"
