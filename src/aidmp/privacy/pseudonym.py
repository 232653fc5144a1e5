"""Keyed hashing of identifiers (pseudonymisation) under one secret per installation.

A plain SHA-256 of an e-mail can be recomputed by anyone holding an e-mail list; an HMAC under
a secret cannot. The secret comes from ``$AIDMP_PRIVACY_SECRET``, from the configured
``privacy.secret_file``, or is created once in ``<home>/secrets/pseudonym.key`` (mode 0600).

Example:
    >>> p = Pseudonymiser(b"k" * 32)
    >>> p.hash("email", "ann@x.com") == p.hash("email", "ann@x.com")
    True
    >>> p.hash("email", "ann@x.com") == Pseudonymiser(b"j" * 32).hash("email", "ann@x.com")
    False
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from aidmp.errors import ConfigError

ENV = "AIDMP_PRIVACY_SECRET"
MIN_BYTES = 16


def load_secret(home: Path, secret_file: Path | None = None) -> bytes:
    """The pseudonymisation secret (created in ``<home>/secrets`` when none is configured).

    Raises:
        ConfigError: a configured secret is missing or shorter than 16 bytes.
    """
    env = os.environ.get(ENV)
    if env:
        value = env.encode()
        where = ENV
    else:
        path = secret_file or home / "secrets" / "pseudonym.key"
        if not path.exists():
            if secret_file is not None:
                raise ConfigError(f"privacy.secret_file: {path} does not exist")
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_hex(32).encode())
        value = path.read_bytes().strip()
        where = str(path)
    if len(value) < MIN_BYTES:
        raise ConfigError(f"the pseudonymisation secret in {where} is shorter than "
                          f"{MIN_BYTES} bytes")
    return value


class Pseudonymiser:
    """HMAC-SHA256 of ``type:value`` strings under one secret."""

    def __init__(self, secret: bytes) -> None:
        self._key = secret

    def derived_key(self, purpose: str) -> str:
        """A hex key for one use (e.g. ``profile ids``) derived from the secret: the secret
        itself never reaches a query."""
        return hmac.new(self._key, f"aidmp:{purpose}".encode(), hashlib.sha256).hexdigest()

    def hash(self, id_type: str, value: str) -> str:
        """The keyed hash of one identifier (hex)."""
        msg = f"{id_type}:{value}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()
