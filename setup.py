"""The one field of the gateway's metadata that pyproject.toml cannot state: its dependencies.

They are ``[tool.dh-gateway] dependencies`` of pyproject.toml and, first, the Python client of
this repository, ``dh-gateway-client``: pinned to the gateway's version, unless the build backend
(scripts/build_backend.py, which says when and why) asks for the tree's copy.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from setuptools import setup

PYPROJECT = tomllib.loads(Path(__file__).with_name("pyproject.toml").read_text(encoding="utf-8"))
VERSION = PYPROJECT["project"]["version"]
CLIENT = os.environ.get("DH_GATEWAY_CLIENT_REQUIREMENT") or f"dh-gateway-client=={VERSION}"

setup(install_requires=[CLIENT, *PYPROJECT["tool"]["dh-gateway"]["dependencies"]])
