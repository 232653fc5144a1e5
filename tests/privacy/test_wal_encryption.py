"""The collector's write-ahead log sealed with AES-GCM: no personal data in clear on disk,
recovery after a crash with the key (and after a rotation), a clear error without it."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from aidmp.collect.wal import WriteAheadLog, read_frames
from aidmp.collect.walcrypt import ENV, FrameCipher, load_cipher
from aidmp.errors import ConfigError

EMAIL = b'{"traits": {"email": "ann.secret@example.org"}}'


def test_sealed_log_holds_no_clear_text_and_replays_after_rotation(tmp_path: Path) -> None:
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    wal = WriteAheadLog(tmp_path / "wal", fsync=False, cipher=FrameCipher([old]))
    wal.wait(wal.append(EMAIL))
    wal.close()  # a crash: the segment stays on disk
    segment = next((tmp_path / "wal").glob("wal-*.log"))
    assert b"ann.secret" not in segment.read_bytes()
    # the key was rotated: the new key seals, the old one still opens the old segment
    rotated = FrameCipher([new, old])
    assert list(read_frames(segment, rotated)) == [EMAIL]
    with pytest.raises(ConfigError, match="not given"):
        list(read_frames(segment, FrameCipher([new])))
    with pytest.raises(ConfigError, match="is encrypted"):
        list(read_frames(segment))


def test_keys_come_from_the_environment_or_a_file_outside_the_home(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.delenv(ENV, raising=False)
    assert load_cipher(None, home) is None
    inside = home / "wal.key"
    inside.write_text(secrets.token_hex(32))
    with pytest.raises(ConfigError, match="must not be inside the home"):
        load_cipher(inside, home)
    outside = tmp_path / "wal.key"
    outside.write_text(secrets.token_hex(32) + "\n")
    assert load_cipher(outside, home) is not None
    monkeypatch.setenv(ENV, "not-hex")
    with pytest.raises(ConfigError, match="64 hex"):
        load_cipher(None, home)
    monkeypatch.setenv(ENV, secrets.token_hex(16))
    with pytest.raises(ConfigError, match="32 bytes"):
        load_cipher(None, home)
