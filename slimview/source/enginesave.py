"""An engine's ``docker save`` of one image as a byte stream, straight off its unix socket.

The request is plain HTTP/1.0, so the engine sends the tar as it is and closes the
connection after it, instead of in the 32 kB chunks of HTTP/1.1 that the docker SDK
(urllib3) decodes one Python call at a time; each read asks the kernel for a whole MiB
(MSG_WAITALL). On the 893 MB sample this took the CPU slimview spends while the save
streams from 0.61 to 0.40 s.

It needs nothing but the standard library, so the command line can send the request
before the rest of slimview is imported (see slimview/launch.py): an engine such as
Docker 20.10 writes the whole save to a temporary directory before sending the first
byte, and the imports then happen while it does. ``start_early`` sends such a request;
the engine source takes it (``take_early``) when it saves the same image.

The engine keeps only ~200 kB in the socket, so while slimview parses what it read the
engine waits: the sample's 851 MB, which the engine sends in 0.55 s to a reader doing
nothing else, took 0.84-0.92 s to read and index. A child process (``_Pump``) therefore
reads the socket into a ring of shared memory while the parent parses: 0.69-0.75 s. A
reader thread was tried first: slower (0.92-1.12 s), as each read hands the GIL over.

Engines reached another way (tcp://, ssh://, TLS) are saved through the docker SDK.
"""

from __future__ import annotations

import json
import mmap
import os
import signal
import socket
import struct
import threading
from collections.abc import Callable
from urllib.parse import quote, urlencode

READ_SIZE = 1 << 20
# As long as the docker SDK waits (engine.connect): a big image's save can take minutes to start.
READ_TIMEOUT_S = 600
MAX_HEAD_BYTES = 64 << 10  # status line and headers; the engine sends a few hundred bytes
MAX_ERROR_BYTES = 64 << 10  # an error answer's body: a JSON message
RING_BYTES = 16 << 20  # what the pump reads ahead of the parser (64 MiB measured no faster)
_POSITION = struct.Struct("Q")  # the pump's messages: bytes written so far, or a failure
_FAILED = 1 << 63  # | errno: the pump's read failed


class SaveRefused(Exception):
    """The engine answered the save with an error status (``message`` is its own words)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def unix_socket(host: str) -> str | None:
    """The socket path of a ``unix://`` engine host; None for any other kind of host."""
    return host[len("unix://") :] if host.startswith("unix://") else None


def save_name(reference: str, tags: list[str], image_id: str) -> str:
    """What to ask the engine to save: the tag the user named, so the save of an alias
    (busybox tagged app:dev) holds the name asked for; else the image's first tag, else its id."""
    if reference in tags:
        return reference
    return tags[0] if tags else image_id


def _request(path: str, target: str, timeout: float | None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(f"GET {target} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
    except BaseException:
        sock.close()
        raise
    return sock


def _read_head(sock: socket.socket | _Pump) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, the body's first bytes) of an HTTP answer."""
    head = b""
    while b"\r\n\r\n" not in head:
        if len(head) > MAX_HEAD_BYTES:
            raise ConnectionError("the engine's answer has no end of headers")
        data = sock.recv(READ_SIZE)
        if not data:
            raise ConnectionError("the engine closed the connection before answering")
        head += data
    head, rest = head.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ConnectionError("the engine's answer is not HTTP")
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return int(parts[1]), headers, rest


def _error_message(sock: socket.socket | _Pump, rest: bytes, status: int) -> str:
    body = rest
    while len(body) < MAX_ERROR_BYTES:
        data = sock.recv(MAX_ERROR_BYTES)
        if not data:
            break
        body += data
    try:
        message = json.loads(body).get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message) if message else f"HTTP {status}"


def inspect(path: str, name: str, timeout: float = 5) -> dict | None:
    """The engine's inspect of image ``name``, or None when it has none or does not answer."""
    try:
        sock = _request(path, f"/images/{quote(name, safe='/:@')}/json", timeout)
    except OSError:
        return None
    try:
        status, _headers, body = _read_head(sock)
        if status != 200:
            return None
        while data := sock.recv(READ_SIZE):
            body += data
        attrs = json.loads(body)
        return attrs if isinstance(attrs, dict) else None
    except (OSError, ValueError):
        return None
    finally:
        sock.close()


class _Pump:
    """A socket read by a child process into a shared ring of ``size`` bytes, handed out
    by ``recv`` as a socket would. The child tells the parent how far it has written (a
    pipe), the parent tells the child how far it has read (another); the child stops at
    the socket's end, on an error (which it passes on) or when the parent goes away."""

    def __init__(self, sock: socket.socket, size: int = RING_BYTES):
        self._size = size
        self._ring = mmap.mmap(-1, size)  # anonymous and shared: the child writes, we read
        written_r, written_w = os.pipe()
        read_r, read_w = os.pipe()
        self._pid = os.fork()
        if self._pid == 0:  # the child: nothing but this loop, then out without any cleanup
            status = 0
            try:
                _close_all_but(sock.fileno(), written_w, read_r)  # stdout too: a pipe reader waits for no one
                _pump(sock, self._ring, written_w, read_r)
            except BaseException:
                status = 1
            finally:
                os._exit(status)
        os.close(written_w)
        os.close(read_r)
        sock.close()  # the child's now
        self._written_r, self._read_w = written_r, read_w
        self._written = 0  # bytes the child has put in the ring
        self._read = 0  # bytes handed out
        self._ended = False

    def recv(self, n: int, flags: int = 0) -> bytes:
        """Up to ``n`` bytes (fewer than asked when that much has not arrived or the ring
        wraps); b"" at the end of the stream."""
        while self._written == self._read and not self._ended:
            news = os.read(self._written_r, _POSITION.size * 4096)
            if not news:
                self._ended = True
                break
            (last,) = _POSITION.unpack_from(news, len(news) - _POSITION.size)
            if last & _FAILED:
                raise OSError(last & ~_FAILED, os.strerror(last & ~_FAILED))
            self._written = last
        start = self._read % self._size
        n = min(n, self._written - self._read, self._size - start)
        if n <= 0:
            return b""
        data = self._ring[start : start + n]
        self._read += n
        try:
            os.write(self._read_w, _POSITION.pack(self._read))
        except BrokenPipeError:
            pass  # the child is done writing
        return data

    def close(self) -> None:
        if self._pid:
            for fd in (self._written_r, self._read_w):
                os.close(fd)
            try:
                os.kill(self._pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(self._pid, 0)
            self._pid = 0
            self._ring.close()


def _close_all_but(*keep: int) -> None:
    start = 0
    for fd in sorted(keep):
        os.closerange(start, fd)
        start = fd + 1
    os.closerange(start, os.sysconf("SC_OPEN_MAX"))


def _pump(sock: socket.socket, ring: mmap.mmap, written_w: int, read_r: int) -> None:
    """The child's loop: read the socket into the ring as far as the parent has read it."""
    size = len(ring)
    view = memoryview(ring)
    written = read = 0
    os.set_blocking(read_r, False)
    while True:
        if written - read == size:  # full: wait for the parent to read
            os.set_blocking(read_r, True)
        try:
            news = os.read(read_r, _POSITION.size * 4096)
        except BlockingIOError:
            news = None
        if news == b"":
            return  # the parent is gone
        if news:
            (read,) = _POSITION.unpack_from(news, len(news) - _POSITION.size)
            os.set_blocking(read_r, False)
            continue
        start = written % size
        try:
            got = sock.recv_into(view[start : start + min(size - (written - read), size - start, READ_SIZE)])
        except OSError as exc:
            os.write(written_w, _POSITION.pack(_FAILED | (exc.errno or 5)))  # 5: EIO, for a timeout without one
            return
        if not got:
            return  # the end of the stream: the parent reads the pipe's end
        written += got
        os.write(written_w, _POSITION.pack(written))


def _can_fork() -> bool:
    """Only a process with one thread forks the pump (a thread could hold a lock the child needs)."""
    return hasattr(os, "fork") and threading.active_count() == 1


class SaveStream:
    """The save of image ``name`` from the engine at socket ``path``: requested at once,
    read with ``read`` (file-like) once the engine starts answering."""

    def __init__(self, path: str, name: str):
        self.path = path
        self.name = name
        sock = _request(path, "/images/get?" + urlencode({"names": name}), None)
        # A timeout in the kernel, not Python's: Python's makes the socket non-blocking, and
        # MSG_WAITALL then returns whatever has arrived.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", READ_TIMEOUT_S, 0))
        self._source: socket.socket | _Pump = _Pump(sock) if _can_fork() else sock
        self._started = False
        self._rest = b""
        self._done = 0
        self.progress: Callable[[int], None] = lambda done: None

    def _start(self) -> None:
        """Wait for the engine's answer; SaveRefused if it is an error."""
        self._started = True
        status, headers, self._rest = _read_head(self._source)
        if status != 200:
            raise SaveRefused(status, _error_message(self._source, self._rest, status))
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise ConnectionError("the engine sent its save in HTTP/1.1 chunks to an HTTP/1.0 request")

    def read(self, n: int = -1) -> bytes:
        if not self._started:
            self._start()
        if n < 0:  # the rest of the save, as a file reads it
            parts = [self._rest]
            while chunk := self._source.recv(READ_SIZE, socket.MSG_WAITALL):
                parts.append(chunk)
            data, self._rest = b"".join(parts), b""
        elif self._rest:
            data, self._rest = self._rest[:n], self._rest[n:]
        else:
            data = self._source.recv(n, socket.MSG_WAITALL) if n else b""
        self._done += len(data)
        self.progress(self._done)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._source.close()


_early: SaveStream | None = None
_early_lock = threading.Lock()


def start_early(path: str, name: str) -> None:
    """Send the save request for image ``name`` now, for ``take_early`` to pick up."""
    global _early
    stream = SaveStream(path, name)
    with _early_lock:
        if _early is not None:
            _early.close()
        _early = stream


def take_early(path: str, name: str) -> SaveStream | None:
    """The save started early, if it was of image ``name`` from the engine at ``path``
    (any other is closed: nothing will read it)."""
    global _early
    with _early_lock:
        stream, _early = _early, None
    if stream is None:
        return None
    if stream.name == name and stream.path == path:
        return stream
    stream.close()
    return None


def discard_early() -> bool:
    """Close a save started early that no one will read (the cache held the image, or it
    is gone); whether there was one."""
    global _early
    with _early_lock:
        stream, _early = _early, None
    if stream is None:
        return False
    stream.close()
    return True
