"""Encryption of the collector's write-ahead log with AES-GCM (``cryptography``).

Raw requests sit in the log from their acknowledgement until the flusher has written them to
the store (and for ever, if the process dies before): they hold personal data. With keys
configured every frame is sealed: ``key id (4 bytes) | nonce (12 bytes) | ciphertext+tag``,
the key id being the first bytes of the key's SHA-256, so after a rotation the log still opens
segments written under an older key that is listed after the new one.

Keys come from ``$AIDMP_WAL_KEYS`` (comma-separated, newest first, each 64 hex characters)
or from ``collector.wal_key_file`` (one key per line, newest first) — never from the home.

Example:
    >>> c = FrameCipher([bytes(range(32))])
    >>> sealed = c.seal(b"hello")
    >>> sealed != b"hello", c.open(sealed)
    (True, b'hello')
    >>> try:
    ...     FrameCipher([bytes(32)]).open(sealed)
    ... except ConfigError as exc:
    ...     print("refused:", "not given" in str(exc))
    refused: True
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from aidmp.errors import ConfigError

ENV = "AIDMP_WAL_KEYS"
_AAD = b"aidmp-wal-v1"


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:4]


class FrameCipher:
    """Seal frames with the first key; open frames of any key given."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ConfigError("no write-ahead log key given")
        for k in keys:
            if len(k) != 32:
                raise ConfigError("each write-ahead log key must be 32 bytes (64 hex "
                                  "characters)")
        self._seal_key = AESGCM(keys[0])
        self._seal_id = _key_id(keys[0])
        self._keys = {_key_id(k): AESGCM(k) for k in keys}

    def seal(self, payload: bytes) -> bytes:
        """Encrypt and authenticate one frame's payload."""
        nonce = os.urandom(12)
        return self._seal_id + nonce + self._seal_key.encrypt(nonce, payload, _AAD)

    def open(self, sealed: bytes) -> bytes:
        """Decrypt one frame's payload.

        Raises:
            ConfigError: the frame's key is not among those given, or it fails its tag.
        """
        kid, nonce, body = sealed[:4], sealed[4:16], sealed[16:]
        aead = self._keys.get(kid)
        if aead is None:
            raise ConfigError(f"a write-ahead log frame was sealed with key {kid.hex()}, "
                              f"not given: list the old key after the new one in {ENV} or "
                              "the key file")
        try:
            return aead.decrypt(nonce, body, _AAD)
        except InvalidTag:
            raise ConfigError("a write-ahead log frame fails its authentication tag: wrong "
                              "key or a damaged file") from None


def load_cipher(key_file: Path | None, home: Path) -> FrameCipher | None:
    """The cipher the environment or the key file configures, or None (log in clear).

    Raises:
        ConfigError: a key that is not 64 hex characters, or a key file inside the home.
    """
    text = os.environ.get(ENV)
    if text is None and key_file is not None:
        if key_file.resolve().is_relative_to(home.resolve()):
            raise ConfigError("collector.wal_key_file must not be inside the home folder "
                              "(a key stored beside the data protects nothing)")
        if not key_file.is_file():
            raise ConfigError(f"collector.wal_key_file: {key_file} does not exist")
        text = ",".join(line.strip() for line in key_file.read_text().splitlines()
                        if line.strip())
    if not text:
        return None
    try:
        keys = [bytes.fromhex(k.strip()) for k in text.split(",") if k.strip()]
    except ValueError:
        raise ConfigError(f"{ENV}: keys must be 64 hex characters each") from None
    return FrameCipher(keys)
