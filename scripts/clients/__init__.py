"""Every client language's ``dh-drive``, built on demand (scripts/build_clients.py, the tests).

Each language has a module ``scripts/clients/lang_<name>.py`` defining::

    def build() -> list[str]:
        '''Build the language's dh-drive (installing its dependencies); return the command.'''

``build()`` must install what it needs itself (modules, npm packages, Maven artifacts, crates),
so that ``make test`` works on a fresh machine, and be idempotent: ``make test`` builds every
language first (scripts/build_clients.py), and the conformance suite (tests/clients/) then gets
each command at once.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

HERE = Path(__file__).parent


def language_names() -> list[str]:
    """Every language with a ``lang_<name>.py`` module here."""
    return sorted(
        info.name.removeprefix("lang_")
        for info in pkgutil.iter_modules([str(HERE)])
        if info.name.startswith("lang_")
    )


_built: dict[str, list[str]] = {}


def client_command(language: str) -> list[str]:
    """The language's dh-drive command, built on first use in this process."""
    if language not in _built:
        module = importlib.import_module(f"scripts.clients.lang_{language}")
        _built[language] = module.build()
    return _built[language]
