"""Profile ids and suppression entries are keyed hashes: no one without the installation's
secret can recompute them from an e-mail list (issue 19)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from aidmp import DMP
from aidmp.errors import ConfigError
from aidmp.privacy.pseudonym import ENV, load_secret

EVENTS = [{"type": "identify", "userId": "u1", "messageId": "m1",
           "traits": {"email": "ann@x.com"}}]


def _profile(home: Path) -> str:
    with DMP(home=home) as dmp:
        dmp.events.ingest(EVENTS, source="web")
        dmp.build()
        return dmp.identity.profile_of("email", "ann@x.com")


def test_profile_ids_are_keyed_and_stable(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    one, two = _profile(tmp_path / "a"), _profile(tmp_path / "b")
    assert one.startswith("p_") and one != two  # two installations, two secrets
    for node in ("user_id:u1", "email:ann@x.com"):  # not the unkeyed hash of any identifier
        assert one != "p_" + hashlib.sha256(node.encode()).hexdigest()[:20]
    secret = tmp_path / "a" / "secrets" / "pseudonym.key"
    assert secret.stat().st_mode & 0o777 == 0o600
    with DMP(home=tmp_path / "a") as again:  # the same home keeps its ids
        again.build(full=True)
        assert again.identity.profile_of("user_id", "u1") == one


def test_the_secret_can_come_from_the_environment(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "s" * 40)
    assert _profile(tmp_path / "a") == _profile(tmp_path / "b")
    assert not (tmp_path / "a" / "secrets").exists()
    monkeypatch.setenv(ENV, "short")
    with pytest.raises(ConfigError, match="shorter than 16 bytes"):
        load_secret(tmp_path / "c")
