"""The pump (slimview/source/enginesave.py): a child process reads the engine's socket into
a ring of shared memory while slimview parses. What comes out is exactly what went in,
across the ring's wrap and at any read size; a failed read reaches the reader as the
error it was; closing early stops the child at once; only a one-thread process forks it."""

from __future__ import annotations

import os
import random
import socket
import struct
import threading

import pytest

from slimview.source import enginesave
from slimview.source.enginesave import _Pump

RING = 64 << 10  # small, so that the ring wraps many times


def _sender(sock: socket.socket, data: bytes, seed: int) -> threading.Thread:
    def send() -> None:
        rng = random.Random(seed)
        at = 0
        with sock:
            while at < len(data):
                n = rng.choice([1, 7, 512, 4096, 65536, 200_000])
                sock.sendall(data[at : at + n])
                at += n

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def _read_all(pump: _Pump, seed: int) -> bytes:
    rng = random.Random(seed)
    parts = []
    while chunk := pump.recv(rng.choice([1, 100, 4096, 1 << 20])):
        parts.append(chunk)
    return b"".join(parts)


@pytest.mark.parametrize("size", [0, 1, RING - 1, RING, RING + 1, 10 * RING + 12_345])
def test_what_comes_out_is_what_went_in(size):
    data = random.Random(size).randbytes(size)
    ours, theirs = socket.socketpair()
    sender = _sender(theirs, data, seed=size)
    pump = _Pump(ours, RING)
    try:
        assert _read_all(pump, seed=size + 1) == data
        assert pump.recv(10) == b""  # and the end stays the end
    finally:
        pump.close()
    sender.join(5)


def test_a_failed_read_reaches_the_reader_as_its_error():
    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 200_000))  # 0.2 s
    theirs.sendall(b"x" * 1000)  # then nothing, and the connection stays open
    pump = _Pump(ours, RING)
    try:
        assert pump.recv(4096) == b"x" * 1000
        with pytest.raises(OSError) as raised:
            pump.recv(4096)
        assert raised.value.errno in (11, 110)  # EAGAIN from SO_RCVTIMEO (or ETIMEDOUT)
    finally:
        pump.close()
        theirs.close()


def test_closing_early_stops_the_child_at_once():
    ours, theirs = socket.socketpair()
    theirs.sendall(b"y" * 100)
    pump = _Pump(ours, RING)
    pid = pump._pid
    assert pump.recv(50) == b"y" * 50
    pump.close()  # the child is still waiting for the rest
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped already: nothing left to wait for
    theirs.close()


def test_only_a_process_with_one_thread_forks_the_pump(monkeypatch):
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    assert enginesave._can_fork()
    monkeypatch.setattr(threading, "active_count", lambda: 2)
    assert not enginesave._can_fork()
