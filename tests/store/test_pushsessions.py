"""The ledger of upload sessions unfinished pushes left, which a rerun resumes."""

from __future__ import annotations

import stat
from pathlib import Path

import store
from ocitypes import Digest


def test_sessions_are_saved_replaced_and_dropped(tmp_path: Path) -> None:
    ledger = store.Store(tmp_path).push_sessions
    digest = Digest.of(b"blob")
    assert ledger.session(digest, "registry.example", "me/m") is None
    assert not ledger.path.exists()  # asking creates nothing
    ledger.save_session(digest, "Registry.Example", "me/m", "https://registry.example/u/1")
    ledger.save_session(digest, "registry.example", "me/m", "https://registry.example/u/2")
    ledger.save_session(digest, "registry.example", "me/other", "https://registry.example/u/3")
    again = store.Store(tmp_path).push_sessions  # another process sees them
    assert again.session(digest, "registry.example", "me/m") == "https://registry.example/u/2"
    assert stat.S_IMODE(ledger.path.stat().st_mode) == 0o600
    again.drop_session(digest, "registry.example", "me/m")
    assert ledger.session(digest, "registry.example", "me/m") is None
    assert ledger.session(digest, "registry.example", "me/other") == "https://registry.example/u/3"


def test_an_unreadable_file_is_only_advice(tmp_path: Path) -> None:
    ledger = store.Store(tmp_path).push_sessions
    ledger.path.parent.mkdir(parents=True)
    ledger.path.write_bytes(b"not a database" * 100)
    digest = Digest.of(b"blob")
    ledger.save_session(digest, "r", "me/a", "https://r/u")  # no error
    assert ledger.session(digest, "r", "me/a") is None
    ledger.drop_session(digest, "r", "me/a")
