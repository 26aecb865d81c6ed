"""The gateway's build backend: setuptools, and where the dependency ``dh-gateway-client`` is from.

The gateway imports the Python client of this repository (``dhgateway_client`` and the generated
contract ``dhgateway.v1``: the distribution ``dh-gateway-client``, ``clients/python``), which no
package index has. Each build says where pip is to take it from (setup.py writes the requirement):

* a wheel built from a tree that has the client beside it (``pip install <repo>``, ``pip install
  git+<url>``): that tree's client, ``dh-gateway-client @ file:///<tree>/clients/python``;
* an sdist, a wheel built from an sdist (``python -m build``), an editable install, or any build
  given ``-C dh-gateway-client=pinned``: ``dh-gateway-client==<the gateway's version>``, found by
  name: the client's wheel given beside the gateway's (``pip install dist/*.whl``,
  ``--find-links``), or ``-e clients/python`` (``make``: pip refuses an editable install and a
  direct reference of one directory together). ``-C dh-gateway-client=tree`` asks for the tree's.

Shipping the client's packages in the gateway's own wheel instead would have two distributions
install the same files when a user has both.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from setuptools import build_meta as _setuptools

ROOT = Path(__file__).resolve().parent.parent
#: The Python client's project in the same tree (not in the gateway's sdist).
CLIENT = ROOT / "clients" / "python"
#: The config setting (``pip -C`` / ``python -m build -C``) that chooses: ``tree`` or ``pinned``.
SETTING = "dh-gateway-client"
#: How this backend hands a direct reference to setup.py (unset: the pinned requirement).
VARIABLE = "DH_GATEWAY_CLIENT_REQUIREMENT"

ConfigSettings = dict[str, str | list[str] | None] | None

get_requires_for_build_sdist = _setuptools.get_requires_for_build_sdist
get_requires_for_build_wheel = _setuptools.get_requires_for_build_wheel
get_requires_for_build_editable = _setuptools.get_requires_for_build_editable


def from_tree(config_settings: ConfigSettings, *, default: bool) -> bool:
    """Whether this build takes the client from the tree (else by name, pinned)."""
    choice = (config_settings or {}).get(SETTING)
    present = (CLIENT / "pyproject.toml").is_file()
    if choice is None:
        return default and present
    if choice == "pinned":
        return False
    if choice == "tree":
        if not present:
            raise ValueError(f"-C {SETTING}=tree: no client project at {CLIENT}")
        return True
    raise ValueError(f"-C {SETTING}={choice!r}: expected 'tree' or 'pinned'")


def direct_reference() -> str:
    """The requirement of the tree's client, as a PEP 508 direct reference."""
    return f"dh-gateway-client @ {CLIENT.as_uri()}"


@contextlib.contextmanager
def client(tree: bool) -> Iterator[None]:
    """For the block, setup.py requires the tree's client (``tree``) or the pinned one."""
    before = os.environ.pop(VARIABLE, None)
    if tree:
        os.environ[VARIABLE] = direct_reference()
    try:
        yield
    finally:
        os.environ.pop(VARIABLE, None)
        if before is not None:
            os.environ[VARIABLE] = before


def build_sdist(sdist_directory: str, config_settings: ConfigSettings = None) -> str:
    with client(False):  # an sdist travels: never a path of this machine
        return str(_setuptools.build_sdist(sdist_directory, config_settings))


def prepare_metadata_for_build_wheel(
    metadata_directory: str, config_settings: ConfigSettings = None
) -> str:
    with client(from_tree(config_settings, default=True)):
        return str(
            _setuptools.prepare_metadata_for_build_wheel(metadata_directory, config_settings)
        )


def build_wheel(
    wheel_directory: str,
    config_settings: ConfigSettings = None,
    metadata_directory: str | None = None,
) -> str:
    with client(from_tree(config_settings, default=True)):
        return str(_setuptools.build_wheel(wheel_directory, config_settings, metadata_directory))


def prepare_metadata_for_build_editable(
    metadata_directory: str, config_settings: ConfigSettings = None
) -> str:
    with client(from_tree(config_settings, default=False)):
        return str(
            _setuptools.prepare_metadata_for_build_editable(metadata_directory, config_settings)
        )


def build_editable(
    wheel_directory: str,
    config_settings: ConfigSettings = None,
    metadata_directory: str | None = None,
) -> str:
    with client(from_tree(config_settings, default=False)):
        return str(_setuptools.build_editable(wheel_directory, config_settings, metadata_directory))
