"""A write-ahead log with group commit, so the collector can acknowledge before the DB write.

Records are appended to a segment file; a background thread ``fdatasync``-s the file for every
writer waiting at that moment (group commit), so many concurrent requests share one disk flush.
When the collector has committed a segment's records to the engine it deletes the segment; on
start, any segment still on disk is replayed (the engine write is idempotent, so replaying a
record that did reach the engine is harmless).

Frame layout (little endian): ``b"AW"`` | payload length (u32) | crc32 of payload (u32) | payload.
A torn last frame (crash mid-write) fails its length or CRC check and is ignored: it was never
acknowledged, because acknowledgement waits for the flush.

Example:
    >>> import tempfile
    >>> wal = WriteAheadLog(tempfile.mkdtemp())
    >>> seq = wal.append(b"hello")
    >>> wal.wait(seq)
    >>> [p for _, p in wal.replay()]
    [b'hello']
    >>> wal.close()
"""

from __future__ import annotations

import asyncio
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

from aidmp.collect.walcrypt import ENV, FrameCipher
from aidmp.errors import ConfigError

_MAGIC = b"AW"
_SEALED = b"AE"  # a frame whose payload is sealed by a FrameCipher
_HEADER = struct.Struct("<2sII")


def frame(payload: bytes) -> bytes:
    """Wrap a payload in a checked frame."""
    return _HEADER.pack(_MAGIC, len(payload), zlib.crc32(payload)) + payload


def sealed_frame(payload: bytes, cipher: FrameCipher | None) -> bytes:
    """A frame of ``payload``, sealed when a cipher is given."""
    if cipher is None:
        return frame(payload)
    body = cipher.seal(payload)
    return _HEADER.pack(_SEALED, len(body), zlib.crc32(body)) + body


def read_frames(path: Path, cipher: FrameCipher | None = None) -> Iterator[bytes]:
    """Yield the payloads of a segment file, stopping at the first torn or corrupt frame.

    Raises:
        ConfigError: a sealed frame and no cipher (or the wrong key).
    """
    data = path.read_bytes()
    pos = 0
    while pos + _HEADER.size <= len(data):
        magic, length, crc = _HEADER.unpack_from(data, pos)
        start = pos + _HEADER.size
        payload = data[start : start + length]
        if magic not in (_MAGIC, _SEALED) or len(payload) != length \
                or zlib.crc32(payload) != crc:
            return
        if magic == _SEALED:
            if cipher is None:
                raise ConfigError(f"{path.name} is encrypted: give the write-ahead log key "
                                  f"({ENV} or collector.wal_key_file)")
            payload = cipher.open(payload)
        yield payload
        pos = start + length


class WriteAheadLog:
    """Segment files under ``folder``; ``append`` then ``wait`` (or ``wait_async``) to be durable.

    Args:
        folder: where segment files live.
        fsync: flush to disk before acknowledging (``False`` survives a process crash but not
            a power loss; useful for tests and benchmarks of the difference).
        cipher: seal every record (AES-GCM, :mod:`aidmp.collect.walcrypt`); None: in clear.
    """

    def __init__(self, folder: str | Path, *, fsync: bool = True,
                 cipher: FrameCipher | None = None) -> None:
        self.folder = Path(folder)
        self.cipher = cipher
        self.folder.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        existing = sorted(self.folder.glob("wal-*.log"))
        self._next_segment = int(existing[-1].stem.split("-")[1]) + 1 if existing else 1
        self._recovered = existing
        self._cond = threading.Condition()
        self._written = 0
        self._synced = 0
        self._retired: list[int] = []
        self._async_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._closed = False
        self._fd, self.current = self._open_segment()
        self._thread = threading.Thread(target=self._sync_loop, name="aidmp-wal-sync", daemon=True)
        self._thread.start()

    def _open_segment(self) -> tuple[int, Path]:
        path = self.folder / f"wal-{self._next_segment:012d}.log"
        self._next_segment += 1
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return fd, path

    # -- writing ----------------------------------------------------------------------------------
    def append(self, payload: bytes) -> int:
        """Write one record to the current segment; return its sequence number."""
        data = sealed_frame(payload, self.cipher)
        with self._cond:
            os.write(self._fd, data)
            self._written += 1
            self._cond.notify_all()
            return self._written

    def rotate(self) -> Path:
        """Start a new segment; return the finished one (delete it once its data is committed)."""
        with self._cond:
            old_fd, old_path = self._fd, self.current
            self._fd, self.current = self._open_segment()
            self._retired.append(old_fd)
            self._cond.notify_all()
            return old_path

    def wait(self, seq: int) -> None:
        """Block until record ``seq`` is on disk."""
        with self._cond:
            while self._synced < seq and not self._closed:
                self._cond.wait()

    def wait_async(self, seq: int) -> asyncio.Future[None]:
        """A future (of the running loop) that completes when record ``seq`` is on disk."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._cond:
            if self._synced >= seq:
                fut.set_result(None)
            else:
                self._async_waiters.append((seq, fut))
        return fut

    def _sync_loop(self) -> None:
        while True:
            with self._cond:
                while self._synced >= self._written and not self._retired and not self._closed:
                    self._cond.wait()
                if self._closed and self._synced >= self._written and not self._retired:
                    return
                target = self._written
                fds = [*self._retired, self._fd]
                retired = list(self._retired)
            if self.fsync:
                for fd in fds:
                    os.fdatasync(fd)
            with self._cond:
                for fd in retired:
                    os.close(fd)
                    self._retired.remove(fd)
                self._synced = max(self._synced, target)
                ready = [(s, f) for s, f in self._async_waiters if s <= target]
                self._async_waiters = [(s, f) for s, f in self._async_waiters if s > target]
                self._cond.notify_all()
            for _, fut in ready:
                fut.get_loop().call_soon_threadsafe(_resolve, fut)

    # -- recovery ---------------------------------------------------------------------------------
    def recovered_segments(self) -> list[Path]:
        """Segments that were on disk when this log was opened (left by a previous run)."""
        return [p for p in self._recovered if p.exists()]

    def replay(self) -> Iterator[tuple[Path, bytes]]:
        """Every record of every segment on disk, oldest first (for recovery and tests)."""
        for path in sorted(self.folder.glob("wal-*.log")):
            for payload in read_frames(path, self.cipher):
                yield path, payload

    def close(self) -> None:
        """Flush, stop the sync thread and close the current segment."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
        os.close(self._fd)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
