"""Which writes of one DuckDB store may run at the same time.

DuckDB's transactions are optimistic: statements on different tables commit side by side
(an append to ``events`` while a build replaces ``profiles`` takes milliseconds), while two
transactions changing one table can conflict. So a write holds the lock of the table it writes,
and only writes to the same table wait for each other. A few operations replace the whole file
or every table (importing a snapshot, compacting) and take every lock at once.

Written here rather than taken from a library: the standard library has no readers-writer
lock, and the one needed (named locks shared under one exclusive one, the exclusive side not
starved) is a few lines over :class:`threading.Condition`.

Example:
    >>> locks = WriteLocks()
    >>> with locks.table("events"), locks.table("profiles"):  # two tables: no wait
    ...     locks.busy()
    ['events', 'profiles']
    >>> with locks.everything():
    ...     locks.busy()
    ['*']
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class WriteLocks:
    """A lock per table name, and one for everything (see the module docstring)."""

    def __init__(self) -> None:
        self._state = threading.Condition()
        self._tables: dict[str, threading.Lock] = {}
        self._held: dict[str, int] = {}  # table -> writers holding or waiting for it
        self._shared = 0  # table writers between their start and their end
        self._exclusive = False
        self._exclusive_waiting = 0

    @contextlib.contextmanager
    def table(self, name: str) -> Iterator[None]:
        """Hold the lock of table ``name`` (after any whole-store operation waiting first)."""
        with self._state:
            while self._exclusive or self._exclusive_waiting:
                self._state.wait()
            self._shared += 1
            self._held[name] = self._held.get(name, 0) + 1
            lock = self._tables.setdefault(name, threading.Lock())
        try:
            with lock:
                yield
        finally:
            with self._state:
                self._shared -= 1
                self._held[name] -= 1
                if not self._held[name]:
                    del self._held[name]
                if not self._shared:
                    self._state.notify_all()

    @contextlib.contextmanager
    def everything(self) -> Iterator[None]:
        """Hold every table: waits for the writes under way; new ones wait for it."""
        with self._state:
            self._exclusive_waiting += 1
            try:
                while self._exclusive or self._shared:
                    self._state.wait()
            finally:
                self._exclusive_waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._state:
                self._exclusive = False
                self._state.notify_all()

    def busy(self) -> list[str]:
        """The tables held or waited for now (``['*']``: everything), for diagnostics."""
        with self._state:
            return ["*"] if self._exclusive else sorted(self._held)


__all__ = ["WriteLocks"]
