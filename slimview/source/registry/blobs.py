"""Layer blobs as they download: verified, resumable, a few at once, straight into the index.

Each blob is a file-like :class:`BlobStream` handed to the index's sink, which
decompresses and indexes it as the bytes arrive: nothing is written to disk. The stream
hashes what it passes and refuses the blob the moment it ends if its sha256 or its size
is not what the manifest says; a broken connection is resumed with a Range request (or,
from a registry that ignores ranges, by skipping what was already read).
"""

from __future__ import annotations

import hashlib
import io
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import requests

from slimview.errors import InputError, LimitExceeded, RegistryError
from slimview.source.model import LayerSink, Progress
from slimview.source.registry.transport import READ_ERRORS, RegistryTransport

PARALLEL_BLOBS = 3
MAX_RESUMES = 4  # consecutive attempts that bring no new byte
READ_CHUNK = 1 << 20
PROGRESS_STEP = 1 << 20  # report download progress at most once per MiB


class Cancelled(Exception):
    """Another blob failed: this one stops at its next read."""


@dataclass(frozen=True)
class BlobJob:
    digest: str
    size: int
    locations: tuple[str, ...]  # registry paths (/v2/…) or URLs, tried in order
    name: str  # what the sink files the layer under (the layers' LayerRef.member)


class BlobStream(io.RawIOBase):
    """One blob, read once front to back, checked against ``digest`` and ``size``."""

    def __init__(self, transport: RegistryTransport, job: BlobJob, label: str, cancelled: threading.Event, on_bytes):
        self._transport = transport
        self._job = job
        self._label = label
        self._cancelled = cancelled
        self._on_bytes = on_bytes
        self._sha = hashlib.sha256()
        self._done = 0
        self._failures = 0
        self._response: requests.Response | None = None
        self._location: str | None = None
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, n: int | None = -1) -> bytes:
        if self._cancelled.is_set():
            raise Cancelled()
        left = self._job.size - self._done
        if left <= 0:
            self._verify()
            return b""
        want = left if n is None or n < 0 else min(n, left)
        while True:
            if self._response is None:
                self._open()
            assert self._response is not None
            try:
                data = self._response.raw.read(want, decode_content=False)
            except READ_ERRORS as exc:
                self._broken(f"the connection broke: {exc.__class__.__name__}")
                continue
            if data:
                break
            self._broken("the connection ended early")
        self._sha.update(data)
        self._done += len(data)
        self._failures = 0
        self._on_bytes(len(data))
        if self._done == self._job.size:
            self._verify()
        return data

    def finish(self) -> None:
        """Read whatever the sink left unread, so that the whole blob is verified."""
        while self.read(READ_CHUNK):
            pass

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None
        super().close()

    # -------------------------------------------------------------------------------------
    def _verify(self) -> None:
        if self._checked:
            return
        self._checked = True
        got = "sha256:" + self._sha.hexdigest()
        if got != self._job.digest:
            raise RegistryError(
                f"{self._label}: blob {self._job.digest} does not match its digest (the {self._job.size:,} bytes "
                f"received hash to {got}); refusing it"
            )

    def _open(self) -> None:
        job = self._job
        candidates = [self._location] if self._location else list(job.locations)
        problem: RegistryError | None = None
        for location in candidates:
            assert location is not None
            headers = {"Range": f"bytes={self._done}-"} if self._done else {}
            try:
                response = self._transport.get(location, headers)
            except RegistryError as exc:
                problem = exc
                continue
            if response.status_code in (200, 206):
                self._location = location
                self._start(response)
                return
            problem = self._refusal(response)
            response.close()
            if response.status_code in (401, 403) and location.startswith("/"):
                break
        assert problem is not None
        if self._done:
            self._broken(str(problem))
            return
        raise problem

    def _refusal(self, response: requests.Response) -> RegistryError:
        status = response.status_code
        what = f"{self._label}: blob {self._job.digest}"
        if status == 404:
            return RegistryError(f"{what} is missing from the registry{self._transport.error_summary(response)}")
        if status == 403:
            return RegistryError(f"{what}: access denied (403){self._transport.error_summary(response)}")
        return RegistryError(f"{what}: the registry answered {status}{self._transport.error_summary(response)}")

    def _start(self, response: requests.Response) -> None:
        """Take ``response`` as the rest of the blob from byte ``self._done``."""
        skip = 0
        if response.status_code == 206:
            first = _content_range_start(response.headers.get("Content-Range", ""))
            if first != self._done:
                response.close()
                raise RegistryError(f"{self._label}: blob {self._job.digest}: the registry resumed at the wrong offset")
        else:
            skip = self._done  # the whole blob again: drop what we already have
        length = response.headers.get("Content-Length", "")
        expected = self._job.size - self._done + skip
        if length.isdigit() and int(length) != expected:
            response.close()
            raise RegistryError(
                f"{self._label}: the registry sends {int(length):,} bytes for blob {self._job.digest}, "
                f"which the manifest gives as {self._job.size:,} bytes"
            )
        self._response = response
        while skip:
            try:
                dropped = len(response.raw.read(min(skip, READ_CHUNK), decode_content=False))
            except READ_ERRORS as exc:
                self._broken(f"the connection broke: {exc.__class__.__name__}")
                return
            if not dropped:
                self._broken("the connection ended early")
                return
            skip -= dropped

    def _broken(self, reason: str) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None
        self._failures += 1
        if self._failures > MAX_RESUMES:
            raise RegistryError(
                f"{self._label}: blob {self._job.digest} was cut off after {self._done:,} of {self._job.size:,} bytes "
                f"({reason}); {MAX_RESUMES} attempts to resume failed"
            )
        if self._cancelled.wait(min(0.25 * 2**self._failures, 4.0)):
            raise Cancelled()


def _content_range_start(header: str) -> int | None:
    """First byte of ``bytes START-END/TOTAL``."""
    unit, _, spec = header.partition(" ")
    first = spec.partition("-")[0]
    return int(first) if unit.lower() == "bytes" and first.isdigit() else None


def fetch_blobs(transport: RegistryTransport, jobs: list[BlobJob], sink: LayerSink, progress: Progress, label: str) -> None:
    """Stream every job's blob into ``sink`` (which must be thread-safe), a few at once.

    The first failure stops the others at their next read and is raised.
    """
    if not jobs:
        return
    cancelled = threading.Event()
    lock = threading.Lock()
    total = sum(job.size for job in jobs)
    done = [0, 0]  # bytes so far, bytes at the last report

    def on_bytes(n: int) -> None:
        with lock:
            done[0] += n
            if done[0] - done[1] >= PROGRESS_STEP or done[0] == total:
                done[1] = done[0]
                progress("download", done[0], total)

    def fetch(job: BlobJob) -> None:
        stream = BlobStream(transport, job, label, cancelled, on_bytes)
        try:
            try:
                sink(job.name, stream)
            except LimitExceeded:
                raise
            except InputError:
                # Corrupt data may be a blob other than the one the manifest names: if the
                # rest of it proves that, say so rather than blame the layer's contents.
                stream.finish()
                raise
            stream.finish()
        finally:
            stream.close()

    progress("download", 0, total)
    ordered = sorted(jobs, key=lambda j: j.size, reverse=True)  # the largest first: they finish last
    with ThreadPoolExecutor(max_workers=min(PARALLEL_BLOBS, len(jobs)), thread_name_prefix="slimview-blob") as pool:
        futures = [pool.submit(fetch, job) for job in ordered]
        try:
            for future in as_completed(futures):
                future.result()
        except BaseException:
            cancelled.set()
            for future in futures:
                future.cancel()
            raise
