"""ListDrives: the live drives of the fleet (or of this process), in pages.

Without Redis the list is this process's drives. With Redis each replica publishes its drives
on the :class:`~gateway.tasks.board.DriveBoard` and lists its own from memory and the others'
from the board; a replica that died drops out within its lease's TTL.

Paging: the drives are ordered by task id, then by a key each drive keeps for its whole life
(unique in the fleet), so a drive whose state or DriveId changes between two pages keeps its
place: paging lists every drive that lived through it exactly once, whichever replica answers
each page. A drive that began or ended meanwhile may or may not be listed. The page token is
the last listed drive's place (and the request's task filter), in URL-safe base64: opaque to
the caller, checked on the way back in.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from dhgateway.v1 import gateway_pb2 as pb

from gateway import redis_extra
from gateway.errors import InvalidDrive, Reason, SharedStateUnavailable
from gateway.service.drive_shell import DriveShell
from gateway.service.task_pb import drive_info
from gateway.service.tasks import active_drive
from gateway.tasks.board import DriveBoard, ListedDrive

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "DriveList",
    "PageAsk",
    "new_replica_id",
    "page_of",
]

#: The page size of a request that sets none (0).
DEFAULT_PAGE_SIZE = 100
#: The largest page; a larger page_size gets this many.
MAX_PAGE_SIZE = 1000
#: The longest page token handed out is well below this (a task id is at most 256 bytes).
MAX_TOKEN_CHARS = 4096
_TOKEN_VERSION = 1


def new_replica_id() -> str:
    """An id for this process: its host name (a pod's name) and a random suffix, so that two
    processes of one host, or a restarted one, differ."""
    return f"{socket.gethostname()[:63]}-{secrets.token_hex(3)}"


class DriveList:
    """What ListDrives lists: this replica's drives and, with a board, every replica's.

    The app must call :meth:`began` and :meth:`ended` around each drive's life and
    :meth:`changed` when a drive's state changes (it publishes sooner).

    Args:
        replica: this replica's id.
        drives: this replica's live drives.
        board: the board the replicas share (None: this process is the fleet).
    """

    def __init__(
        self,
        replica: str,
        drives: Callable[[], Iterable[DriveShell[Any]]],
        board: DriveBoard | None = None,
    ) -> None:
        self.replica = replica
        self.board = board
        self._drives = drives
        self._keys: dict[DriveShell[Any], str] = {}
        self._numbers = itertools.count(1)

    def began(self, drive: DriveShell[Any]) -> None:
        """``drive`` is one of this replica's live drives from now on."""
        self._keys[drive] = f"{self.replica}/{next(self._numbers)}"
        self.changed()

    def ended(self, drive: DriveShell[Any]) -> None:
        """``drive`` is over."""
        self._keys.pop(drive, None)
        self.changed()

    def changed(self) -> None:
        """A drive of this replica changed (queued, started): publish soon."""
        if self.board is not None:
            self.board.changed()

    def here(self) -> list[ListedDrive]:
        """This replica's live drives."""
        listed = []
        for drive in self._drives():
            key = self._keys.get(drive)
            if key is not None:
                listed.append(
                    ListedDrive(drive.spec.task_id, key, active_drive(drive, self.replica))
                )
        return listed

    async def everywhere(self) -> list[ListedDrive]:
        """The fleet's live drives: this replica's now, the others' as they last published.

        Raises:
            SharedStateUnavailable: the board did not answer.
        """
        here = self.here()
        if self.board is None:
            return here
        try:
            published = await self.board.read()
        except (redis_extra.RedisError, TimeoutError, OSError) as exc:
            raise SharedStateUnavailable("listing the replicas' drives") from exc
        return here + [d for d in published if d.drive.replica != self.replica]


def page_size(requested: int) -> int:
    """How many drives a page of ``requested`` holds.

    Raises:
        InvalidDrive: BAD_PAGE_SIZE for a negative one.
    """
    if requested < 0:
        raise InvalidDrive(
            Reason.BAD_PAGE_SIZE,
            f"ListDrivesRequest.page_size {requested} is negative",
            field="page_size",
        )
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _token(task_filter: str, last: ListedDrive) -> str:
    place = json.dumps([_TOKEN_VERSION, task_filter, *last.order], separators=(",", ":"))
    return base64.urlsafe_b64encode(place.encode()).decode().rstrip("=")


def _place(token: str, task_filter: str) -> tuple[str, str] | None:
    """Where the page of ``token`` begins (after this place); None for the first page.

    Raises:
        InvalidDrive: BAD_PAGE_TOKEN for a token this gateway did not hand out for a request
            with this task filter.
    """
    if not token:
        return None
    bad = InvalidDrive(
        Reason.BAD_PAGE_TOKEN,
        "ListDrivesRequest.page_token is not a next_page_token of ListDrives with this task_id",
        field="page_token",
    )
    if len(token) > MAX_TOKEN_CHARS:
        raise bad
    try:
        padded = token + "=" * (-len(token) % 4)
        place = json.loads(base64.b64decode(padded, altchars=b"-_", validate=True))
    except (ValueError, RecursionError):  # not base64, not UTF-8, not JSON, too deep
        raise bad from None
    if (
        not isinstance(place, list)
        or len(place) != 4
        or place[0] != _TOKEN_VERSION
        or place[1] != task_filter
        or not all(isinstance(part, str) for part in place[2:])
    ):
        raise bad
    return place[2], place[3]


@dataclass(frozen=True, slots=True)
class PageAsk:
    """A ListDrivesRequest, checked: which task (\"\" all), how many, after which place."""

    task_id: str
    size: int
    after: tuple[str, str] | None

    @classmethod
    def of(cls, request: pb.ListDrivesRequest) -> PageAsk:
        """Check ``request``.

        Raises:
            InvalidDrive: BAD_PAGE_SIZE, BAD_PAGE_TOKEN.
        """
        size = page_size(request.page_size)
        return cls(request.task_id, size, _place(request.page_token, request.task_id))

    def wants(self, drive: ListedDrive) -> bool:
        """Whether ``drive`` is of the asked task."""
        return not self.task_id or drive.task_id == self.task_id


def page_of(drives: Iterable[ListedDrive], ask: PageAsk) -> pb.ListDrivesResponse:
    """The page of ``drives`` (those the caller may see) that ``ask`` asks for."""
    ordered = sorted((d for d in drives if ask.wants(d)), key=lambda d: d.order)
    if ask.after is not None:
        after = ask.after
        ordered = [d for d in ordered if d.order > after]
    chosen = ordered[: ask.size]
    next_token = _token(ask.task_id, chosen[-1]) if len(ordered) > ask.size else ""
    return pb.ListDrivesResponse(
        drives=[drive_info(d.task_id, d.drive) for d in chosen], next_page_token=next_token
    )
