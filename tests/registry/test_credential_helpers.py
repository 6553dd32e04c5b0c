"""Docker credential helpers: run as Docker runs them, with a timeout, ``auths`` as fallback."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from registry.client import Credentials
from registry.client.credentials import CredentialsFile
from registry.client.helpers import helper_credentials, server_address

HOST = "registry.example:5000"


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}:/usr/bin:/bin")
    return folder


def helper(bin_dir: Path, name: str, body: str) -> Path:
    """A ``docker-credential-<name>`` shell script; it keeps what it read on stdin beside it."""
    path = bin_dir / f"docker-credential-{name}"
    path.write_text(f'#!/bin/sh\n[ "$1" = get ] || exit 3\ncat > "$0.stdin"\n{body}\n')
    path.chmod(0o755)
    return path


def answers(username: str, secret: str) -> str:
    document = json.dumps({"ServerURL": HOST, "Username": username, "Secret": secret})
    return f"echo '{document}'"


def config(tmp_path: Path, document: dict[str, object]) -> CredentialsFile:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(document))
    return CredentialsFile(path, helper_timeout=1.0)


def auths_entry(user: str, password: str) -> dict[str, object]:
    return {HOST: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}


def test_creds_store_is_asked_with_the_host_on_stdin(bin_dir: Path, tmp_path: Path) -> None:
    script = helper(bin_dir, "fake", answers("alice", "from-keychain"))
    file = config(tmp_path, {"credsStore": "fake", "auths": {HOST: {}}})
    assert file.get(HOST) == Credentials("alice", "from-keychain")
    assert Path(f"{script}.stdin").read_text() == HOST  # no newline, as Docker sends it


def test_cred_helpers_name_a_helper_per_host_before_creds_store(
        bin_dir: Path, tmp_path: Path) -> None:
    helper(bin_dir, "store", answers("everyone", "s1"))
    helper(bin_dir, "special", answers("bob", "s2"))
    file = config(tmp_path, {"credsStore": "store", "credHelpers": {HOST: "special"}})
    assert file.get(HOST) == Credentials("bob", "s2")
    assert file.get("other.example") == Credentials("everyone", "s1")


def test_a_helper_that_fails_falls_back_to_auths(bin_dir: Path, tmp_path: Path) -> None:
    helper(bin_dir, "fails", "echo 'credentials not found in native keychain'; exit 1")
    helper(bin_dir, "nonsense", "echo 'not json'")
    helper(bin_dir, "token", answers("<token>", "an-identity-token"))
    for name in ("fails", "nonsense", "token", "missing", "../../bin/sh"):
        file = config(tmp_path, {"credsStore": name, "auths": auths_entry("carol", "pw")})
        assert file.get(HOST) == Credentials("carol", "pw"), name
        bare = config(tmp_path, {"credsStore": name})
        assert bare.get(HOST) is None, name


def test_a_hanging_helper_is_stopped_at_the_timeout(bin_dir: Path, tmp_path: Path) -> None:
    helper(bin_dir, "hangs", "sleep 30")  # sleep is a child that holds the helper's stdout
    file = config(tmp_path, {"credsStore": "hangs", "auths": auths_entry("dave", "pw")})
    started = time.monotonic()
    assert file.get(HOST) == Credentials("dave", "pw")
    assert time.monotonic() - started < 5


def test_docker_hub_is_asked_for_under_its_historical_url(bin_dir: Path, tmp_path: Path) -> None:
    script = helper(bin_dir, "hub", answers("erin", "s3"))
    assert server_address("docker.io") == "https://index.docker.io/v1/"
    assert helper_credentials("hub", server_address("registry-1.docker.io")) == Credentials(
        "erin", "s3")
    assert Path(f"{script}.stdin").read_text() == "https://index.docker.io/v1/"
