"""The home file through which the CLI finds the server that owns a home.

``aidmp serve`` writes ``<home>/server.json`` once it accepts connections: the server's address,
its process id, and the secret of an admin key created for this run only. The file is created
with mode ``0600`` (readable by the owner only: whoever can read it can administer the store,
as whoever can read the DuckDB file could). At exit the server removes the file and revokes the
key; a file left by a killed server points at no live process and is ignored (and its key
revoked by the next ``aidmp serve``).

Example:
    >>> import os, tempfile
    >>> home = tempfile.mkdtemp()
    >>> hs = Handshake(url="http://127.0.0.1:8000", token="s3cret", key_id="k1", pid=os.getpid())
    >>> p = write(home, hs)
    >>> oct(p.stat().st_mode & 0o777), read(home) == hs
    ('0o600', True)
    >>> remove(home); read(home) is None
    True
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

FILE_NAME = "server.json"


@dataclass(frozen=True)
class Handshake:
    """What a client needs to reach the server of a home."""

    url: str
    """Base URL, e.g. ``http://127.0.0.1:8000``."""
    token: str
    """Secret of the run's admin key (``Authorization: Bearer``)."""
    key_id: str
    """Public id of that key (revoked at exit)."""
    pid: int
    """The server's process id."""


def path(home: str | Path) -> Path:
    """Where the handshake file of a home lives."""
    return Path(home) / FILE_NAME


def write(home: str | Path, hs: Handshake) -> Path:
    """Write the file atomically, readable by the owner only."""
    target = path(home)
    tmp = target.with_name(f".{FILE_NAME}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(orjson.dumps(asdict(hs)))
    os.chmod(tmp, 0o600)  # whatever the umask
    os.replace(tmp, target)
    return target


def read(home: str | Path) -> Handshake | None:
    """The handshake of a home, or None (no file, or not one of ours)."""
    try:
        data = orjson.loads(path(home).read_bytes())
        return Handshake(url=str(data["url"]), token=str(data["token"]),
                         key_id=str(data["key_id"]), pid=int(data["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def alive(hs: Handshake) -> bool:
    """Whether the process that wrote the handshake still runs."""
    try:
        os.kill(hs.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # runs, as another user
        return True
    return True


def remove(home: str | Path) -> None:
    """Delete the file (no error when it is gone)."""
    with contextlib.suppress(FileNotFoundError):
        path(home).unlink()


__all__ = ["FILE_NAME", "Handshake", "alive", "path", "read", "remove", "write"]
