"""Our hot-path frame encoder against websockets' own parser."""

from __future__ import annotations

import os

from hypothesis import given, settings, strategies as st
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from gateway.upstream.connection import encode_binary_frame


def parse(wire: bytes) -> tuple[Frame, bytes]:
    """websockets' server-side parse of one client frame, and the bytes left after it."""
    reader = StreamReader()
    reader.feed_data(wire)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=True, max_size=None)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        rest = reader.buffer
        return frame, bytes(rest)
    raise AssertionError("the frame was incomplete")


@settings(max_examples=20)
@given(st.sampled_from([0, 1, 125, 126, 127, 640, 65535, 65536, 70001]))
def test_websockets_reads_back_every_length_class(length: int) -> None:
    payload = os.urandom(length)
    frame, rest = parse(encode_binary_frame(payload))
    assert frame.opcode is Opcode.BINARY
    assert frame.fin and not (frame.rsv1 or frame.rsv2 or frame.rsv3)
    assert frame.data == payload
    assert rest == b""


@given(st.binary(max_size=2000))
def test_any_payload_round_trips(payload: bytes) -> None:
    assert parse(encode_binary_frame(payload))[0].data == payload


def test_masking_keys_differ_from_frame_to_frame() -> None:
    # Bytes 2..5 of a short frame are its key; 3000 frames cross several draws from the pool.
    keys = {encode_binary_frame(b"x" * 10)[2:6] for _ in range(3000)}
    assert len(keys) > 2990  # 32-bit keys: a few collisions at most, by chance


def test_a_forked_child_draws_new_keys() -> None:
    encode_binary_frame(b"warm the pool")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next key and leave at once
        os.write(write, encode_binary_frame(b"x")[2:6])
        os._exit(0)
    os.close(write)
    child_key = os.read(read, 4)
    os.close(read)
    os.waitpid(pid, 0)
    assert child_key != encode_binary_frame(b"x")[2:6]
