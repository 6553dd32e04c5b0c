"""lamina push, pull and login against the real CNCF Distribution."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from lamina import schema
from lamina.cli import main
from ocitypes import Descriptor, Manifest, mediatypes
from registry.client import Pusher, connect
from registry.reference import Reference
from tests.registry.distribution import PASSWORD, USER, Proxy, Registry, start_registry
from tests.registry.fakes import MemoryBlobs


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    running = start_registry(tmp_path_factory.mktemp("cli-registry"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    running = start_registry(tmp_path_factory.mktemp("cli-registry-basic"), "basic")
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LAMINA_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    return tmp_path


def run(*args: str, stdin: str | None = None, home: Path | None = None) -> tuple[int, str, str]:
    extra = ["--home", str(home)] if home is not None else []
    result = CliRunner().invoke(main, [*extra, *args], input=stdin, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def created(tiny_gguf: Path, system: str = "be brief") -> str:
    modelfile = tiny_gguf.parent / "Modelfile"
    modelfile.write_text(f"FROM ./tiny.gguf\nSYSTEM {system}\n")
    code, _, err = run("create", "tiny", "-f", str(modelfile))
    assert code == 0, err
    return "tiny"


def test_push_then_pull_into_another_store(
    registry: Registry, tiny_gguf: Path, homes: Path
) -> None:
    created(tiny_gguf)
    remote = f"{registry.host}/team/tiny:v1"
    code, out, err = run("push", "tiny", remote)
    assert code == 0, err
    assert out.startswith(f"pushed {remote} (")
    assert "3 blobs" not in out  # nothing was on the registry yet

    other = homes / "other"
    code, out, err = run("pull", remote, home=other)
    assert code == 0, err
    assert f"pulled {remote}" in out
    code, out, _ = run("verify", home=other)
    assert code == 0, out
    original = (homes / "home" / "manifests" / registry.host / "team" / "tiny" / "v1").read_bytes()
    pulled = (other / "manifests" / registry.host / "team" / "tiny" / "v1").read_bytes()
    assert pulled == original

    # A second pull fetches nothing; a second push sends only the manifest.
    code, out, _ = run("pull", remote, "--json", home=other)
    document = schema.PullOutput.model_validate_json(out)
    assert out == document.model_dump_json() + "\n"  # built without pydantic, written as it
    assert {b.action for b in document.blobs} == {"skipped"}
    code, out, _ = run("push", remote, "--json")
    pushed = schema.PushOutput.model_validate_json(out)
    assert out == pushed.model_dump_json() + "\n"
    assert {b.action for b in pushed.blobs} == {"present"}
    assert pushed.transferred_size == len(original)


def test_a_json_pull_or_push_loads_only_what_it_uses(
    registry: Registry, tiny_gguf: Path, homes: Path
) -> None:
    created(tiny_gguf)
    remote = f"{registry.host}/team/light:v1"
    lamina = str(Path(sys.executable).parent / "lamina")  # the console script, as users run it
    for args, home in ((["push", "tiny", remote], homes / "home"),
                       (["pull", remote], homes / "light")):
        done = subprocess.run([sys.executable, "-X", "importtime", lamina, *args, "--json"],
                              capture_output=True, text=True,
                              env={**os.environ, "LAMINA_HOME": str(home)})
        assert done.returncode == 0, done.stderr[-2000:]
        json.loads(done.stdout)
        loaded = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
                  if line.startswith("import time:")}
        assert not loaded & {"pydantic", "pygments", "rich.syntax"}, args  # httpx's CLI needs both
        # An anonymous registry asks for no credentials, and a registry name is not the Hub's.
        assert not loaded & {"registry.client.credentials", "platformdirs", "store.hub"}, args


def test_variant_push_sends_only_the_new_layers(registry: Registry, tiny_gguf: Path) -> None:
    created(tiny_gguf, "first")
    assert run("push", "tiny", f"{registry.host}/team/variant:a")[0] == 0
    created(tiny_gguf, "second prompt")
    code, out, err = run("push", "tiny", f"{registry.host}/team/variant:b", "--json")
    assert code == 0, err
    result = schema.PushOutput.model_validate_json(out)
    sent = {b.media_type: b.action for b in result.blobs}
    assert sent[mediatypes.MODEL] == "present"
    assert sent[mediatypes.SYSTEM] == "sent"
    new = sum(b.size for b in result.blobs if b.action == "sent")
    assert result.transferred_size <= new + 2048


def test_missing_tag(registry: Registry) -> None:
    code, out, err = run("pull", f"{registry.host}/team/absent:nope")
    assert (code, out) == (1, "")
    assert err.startswith("Error: pull ") and "manifest unknown" in err
    code, out, _ = run("pull", f"{registry.host}/team/absent:nope", "--json")
    assert json.loads(out)["error"]["code"] == "not_found_on_registry"


def test_unreachable_registry() -> None:
    code, _, err = run("pull", "127.0.0.1:9/team/x:y")
    assert code == 1
    assert "cannot reach 127.0.0.1:9" in err and "Traceback" not in err


def test_a_failed_push_to_a_new_name_leaves_no_local_copy(tiny_gguf: Path) -> None:
    created(tiny_gguf)
    assert run("cp", "tiny", "127.0.0.1:9/team/kept:v1")[0] == 0
    for destination in ("127.0.0.1:9/team/new:v1", "127.0.0.1:9/team/kept:v1"):
        code, _, err = run("push", "tiny", destination)
        assert code == 1 and "cannot reach 127.0.0.1:9" in err
    names = [model["name"] for model in json.loads(run("list", "--json")[1])["models"]]
    assert sorted(names) == ["127.0.0.1:9/team/kept:v1", "tiny:latest"]


def test_upper_case_names_reach_lower_case_repositories(registry: Registry,
                                                          tiny_gguf: Path) -> None:
    created(tiny_gguf)
    code, _, err = run("push", "tiny", f"{registry.host}/Team/Tiny:v1")
    assert code == 0, err
    code, _, err = run("pull", f"{registry.host}/team/tiny:v1")
    assert code == 0, err


def test_login_then_push_and_pull(basic_registry: Registry, tiny_gguf: Path,
                                  homes: Path) -> None:
    created(tiny_gguf)
    remote = f"{basic_registry.host}/me/tiny:v1"
    code, _, err = run("push", "tiny", remote)
    assert code == 1
    assert f"run `lamina login {basic_registry.host}` first" in err

    code, _, err = run("login", basic_registry.host, "-u", USER, "--password-stdin",
                       stdin="wrong\n")
    assert code == 1 and "credentials" in err
    assert not (homes / "config" / "credentials.json").exists()

    code, out, err = run("login", basic_registry.host, "-u", USER, "--password-stdin",
                         stdin=PASSWORD + "\n")
    assert code == 0, err
    saved = homes / "config" / "credentials.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert PASSWORD not in out and PASSWORD not in saved.read_text()  # base64, never echoed
    assert run("push", "tiny", remote)[0] == 0
    assert run("pull", remote, home=homes / "other")[0] == 0


def test_login_takes_a_url_or_upper_case_host_as_the_host_names_use(
        basic_registry: Registry, tiny_gguf: Path, homes: Path) -> None:
    created(tiny_gguf)
    spelled = f"HTTPS://{basic_registry.host.upper().replace('127.0.0.1', 'LOCALHOST')}/"
    code, _, err = run("login", spelled, "-u", USER, "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 0, err
    host = basic_registry.host.replace("127.0.0.1", "localhost")
    saved = json.loads((homes / "config" / "credentials.json").read_text())
    assert list(saved["auths"]) == [host]
    assert run("push", "tiny", f"{host}/me/spelled:v1")[0] == 0


def test_docker_config_credentials_are_used(basic_registry: Registry, tiny_gguf: Path,
                                            homes: Path) -> None:
    import base64

    created(tiny_gguf)
    (homes / "docker").mkdir()
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (homes / "docker" / "config.json").write_text(
        json.dumps({"auths": {f"http://{basic_registry.host}": {"auth": auth}}})
    )
    code, _, err = run("push", "tiny", f"{basic_registry.host}/me/docker:v1")
    assert code == 0, err


def test_docker_credential_helpers_are_run(basic_registry: Registry, tiny_gguf: Path,
                                           homes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    created(tiny_gguf)
    (homes / "docker").mkdir()
    (homes / "docker" / "config.json").write_text(
        json.dumps({"credsStore": "lamina-test", "auths": {basic_registry.host: {}}})
    )
    bin_dir = homes / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-lamina-test"
    answer = json.dumps({"ServerURL": basic_registry.host, "Username": USER, "Secret": PASSWORD})
    helper.write_text(f"#!/bin/sh\ncat > \"$0.stdin\"\necho '{answer}'\n")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    code, out, err = run("push", "tiny", f"{basic_registry.host}/me/helped:v1")
    assert code == 0, err
    assert Path(f"{helper}.stdin").read_text() == basic_registry.host
    assert PASSWORD not in out + err


def _big_model(registry: Registry, repository: str, size: int) -> bytes:
    """Push a model with ``size`` bytes of weights straight through the client."""
    blobs = MemoryBlobs()
    weights = os.urandom(size)
    config = b'{"model_format":"gguf"}'
    manifest = Manifest(
        Descriptor(mediatypes.CONFIG, blobs.add(config), len(config)),
        (Descriptor(mediatypes.MODEL, blobs.add(weights), len(weights)),),
    ).encode()
    target = Reference(registry.host, repository, "latest")
    with connect(target) as transport:
        Pusher(transport, blobs).push(target, manifest, mediatypes.MANIFEST)
    return weights


@pytest.mark.parametrize(("how", "code"), [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGINT, 130)],
                         ids=["kill -9", "ctrl-c"])
def test_killed_or_interrupted_pull_resumes(registry: Registry, homes: Path,
                                            how: signal.Signals, code: int) -> None:
    size = 24 * 1024 * 1024
    _big_model(registry, "team/big", size)
    proxy = Proxy(registry.host)
    try:
        proxy.throttle = 0.004  # ≈ 16 MB/s: the pull is still running when it is killed
        home = homes / "pulling"
        env = {**os.environ, "LAMINA_HOME": str(home)}
        lamina = str(Path(sys.executable).parent / "lamina")
        command = [lamina, "pull", f"{proxy.host}/team/big", "-q"]
        process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        records = home / ".lamina" / "partial"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _ranges_recorded(records, size):
            time.sleep(0.05)
        os.kill(process.pid, how)
        process.wait(timeout=30)
        assert process.returncode == code
        assert _ranges_recorded(records, size), "the stopped pull left its finished ranges"

        proxy.throttle = 0.0
        proxy.seen.clear()
        code, out, err = run("pull", f"{proxy.host}/team/big", "--json", home=home)
        assert code == 0, err
        result = schema.PullOutput.model_validate_json(out)
        weights = next(b for b in result.blobs if b.media_type == mediatypes.MODEL)
        assert weights.action == "resumed"
        assert weights.transferred_size < size
        assert all(h.get("Range", "bytes=0-").split("=")[1].split("-")[0] != "0"
                   for m, p, h in proxy.seen if "/blobs/" in p and m == "GET"
                   and weights.digest in p)
        code, out, err = run("verify", home=home)
        assert code == 0, out + err
        assert not list(records.glob("*"))
    finally:
        proxy.stop()



def test_ctrl_c_ends_a_pull_whose_registry_stopped_sending(registry: Registry,
                                                          homes: Path) -> None:
    size = 24 * 1024 * 1024
    _big_model(registry, "team/stalled", size)
    proxy = Proxy(registry.host)
    try:
        proxy.throttle = 0.004
        home = homes / "stalled"
        env = {**os.environ, "LAMINA_HOME": str(home)}
        command = [str(Path(sys.executable).parent / "lamina"), "pull",
                   f"{proxy.host}/team/stalled", "-q"]
        process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
        records = home / ".lamina" / "partial"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _ranges_recorded(records, size):
            time.sleep(0.05)
        proxy.throttle = 120.0  # the registry stops sending halfway through the blob
        time.sleep(1.0)  # the pull now waits in a read, whose timeout is 30 s
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=25)
        assert process.returncode == 130, err
        assert time.monotonic() - interrupted < 10
        assert b"interrupted" in err
        assert _ranges_recorded(records, size), "what arrived before the stall is kept"
    finally:
        proxy.stop()


def test_two_pulls_of_one_model_at_once_fetch_it_once(registry: Registry, homes: Path) -> None:
    size = 8 * 1024 * 1024
    _big_model(registry, "team/twice", size)
    proxy = Proxy(registry.host)
    try:
        proxy.throttle = 0.004  # ≈ 16 MB/s: the second starts while the first is fetching
        home = homes / "shared"
        env = {**os.environ, "LAMINA_HOME": str(home)}
        command = [str(Path(sys.executable).parent / "lamina"), "pull",
                   f"{proxy.host}/team/twice", "--json"]
        first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE)
        deadline = time.monotonic() + 30
        partials = home / ".lamina" / "partial"
        while not (partials.exists() and list(partials.glob("*.part"))):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        second = subprocess.Popen(command, env=env, stdout=subprocess.PIPE)
        documents = [schema.PullOutput.model_validate_json(p.communicate(timeout=60)[0])
                     for p in (first, second)]
    finally:
        proxy.stop()
    weights = [next(b for b in d.blobs if b.media_type == mediatypes.MODEL) for d in documents]
    assert [w.action for w in weights] == ["fetched", "skipped"]
    assert sum(w.transferred_size for w in weights) == size
    assert run("verify", home=home)[0] == 0


def _ranges_recorded(records: Path, size: int) -> bool:
    """Whether a partial blob of ``size`` bytes has at least one finished range on record."""
    for path in records.glob("*.ranges") if records.exists() else ():
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            continue
        if lines and lines[0].endswith(f" {size}") and len(lines) >= 2:
            return True
    return False


def test_create_from_a_missing_parent_pulls_it(registry: Registry, tiny_gguf: Path,
                                               homes: Path) -> None:
    created(tiny_gguf)
    parent = f"{registry.host}/team/parent:v1"
    assert run("push", "tiny", parent)[0] == 0
    other = homes / "other"
    child = tiny_gguf.parent / "Child"
    child.write_text(f"FROM {parent}\nSYSTEM a child\n")
    code, _, err = run("create", "child", "-f", str(child), home=other)
    assert code == 0, err
    assert f"pulling {parent}" in err
    assert run("show", parent, home=other)[0] == 0


def test_lock_then_create_locked(registry: Registry, tiny_gguf: Path, homes: Path) -> None:
    created(tiny_gguf, "version one")
    parent = f"{registry.host}/team/locked:v1"
    assert run("push", "tiny", parent)[0] == 0
    child = tiny_gguf.parent / "Child"
    child.write_text(f"FROM {parent}\nSYSTEM a child\n")
    other = homes / "other"
    code, out, err = run("lock", "-f", str(child), "--json", home=other)
    assert code == 0, err
    lock = schema.LockOutput.model_validate_json(out)
    first = lock.locked[0].digest
    assert lock.locked[0].name == parent
    assert json.loads((tiny_gguf.parent / "Child.lock").read_text()) == {
        "lamina_lock": 1, "from": {parent: first}
    }
    # The tag moves on; a locked build still gets the locked parent.
    created(tiny_gguf, "version two")
    assert run("push", "tiny", parent)[0] == 0
    code, _, err = run("create", "child", "-f", str(child), "--locked", home=other)
    assert code == 0, err
    code, out, _ = run("show", parent, "--json", home=other)
    assert json.loads(out)["id"] == first

    # Without the lock, or with a lock that misses the name, --locked fails.
    (tiny_gguf.parent / "Child.lock").write_text('{"lamina_lock": 1, "from": {}}\n')
    code, _, err = run("create", "child", "-f", str(child), "--locked", home=other)
    assert code == 1 and "run `lamina lock" in err
    (tiny_gguf.parent / "Child.lock").unlink()
    code, _, err = run("create", "child", "-f", str(child), "--locked", home=other)
    assert code == 1 and "no lock file" in err


def test_push_to_a_sibling_repository_mounts_blobs(registry: Registry, tiny_gguf: Path) -> None:
    created(tiny_gguf, "mount me")
    assert run("push", "tiny", f"{registry.host}/team/mount-a:v1")[0] == 0
    code, out, err = run("push", "tiny", f"{registry.host}/team/mount-b:v1", "--json")
    assert code == 0, err
    result = schema.PushOutput.model_validate_json(out)
    assert {b.action for b in result.blobs} == {"mounted"}
