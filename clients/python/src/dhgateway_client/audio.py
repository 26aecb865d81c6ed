"""What a drive sends after its config: audio chunks, and marks between them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from dhgateway.v1 import gateway_pb2 as pb


@dataclass(frozen=True, slots=True)
class Mark:
    """A named point between audio chunks (``DriveRequest.mark``).

    Put one in the audio source after the chunk it follows; the gateway answers with a
    ``mark_played`` event carrying this ``name`` (and where the mark is in the audio, ``at_ms``)
    once the avatar has played the audio before it. A TTS that knows its word timings can so
    learn which words were heard. The gateway refuses an empty name, one above 256 bytes of
    UTF-8, or too many marks in a drive (``INVALID_ARGUMENT`` / ``BAD_MARK``).
    """

    name: str


#: One item of a drive's audio source: a chunk of audio in the configured format, or a Mark.
AudioItem: TypeAlias = bytes | Mark


def to_request(item: AudioItem) -> pb.DriveRequest:
    """The ``DriveRequest`` that carries ``item``."""
    if isinstance(item, Mark):
        return pb.DriveRequest(mark=pb.Mark(name=item.name))
    return pb.DriveRequest(audio=item)
