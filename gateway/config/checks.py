"""How the configuration's dataclasses check themselves: problems, collected and raised together.

Also the address rules shared by the dataclasses and the CLI (:func:`is_local_address`).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import ConfigError


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the configuration: the field (relative to its dataclass) and why."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field} {self.message}" if self.field else self.message


class ConfigProblems(ConfigError):
    """Every problem found in one piece of configuration (a :class:`ConfigError`)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = tuple(problems)


class Checks:
    """Collects problems; :meth:`done` raises them together."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, field_name: str, message: str) -> None:
        self.problems.append(Problem(field_name, message))

    def positive(self, owner: object, *names: str) -> None:
        for name in names:
            value = getattr(owner, name)
            if value is None:
                continue
            if isinstance(value, bool) or not (math.isfinite(value) and value > 0):
                self.add(name, f"must be a positive number, got {value!r}")

    def file(self, name: str, path: str | None) -> None:
        if path is not None and not Path(path).is_file():
            self.add(name, f"{path!r} does not exist")

    def done(self) -> None:
        if self.problems:
            raise ConfigProblems(self.problems)


def is_local_address(listen: str) -> bool:
    """Whether ``listen`` is reachable from this machine only (loopback or a Unix socket)."""
    if listen.startswith(("unix:", "unix-abstract:")):
        return True
    host = listen.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost, or "" (every interface)


def listen_problem(listen: str) -> str | None:
    if listen.startswith(("unix:", "unix-abstract:")):
        return None if listen.split(":", 1)[1] else f"needs a path after 'unix:', got {listen!r}"
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        return f"must be host:port (port 0-65535) or unix:/path, got {listen!r}"
    return None
