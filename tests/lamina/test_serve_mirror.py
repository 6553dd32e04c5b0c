"""``lamina serve --mirror`` in a real process on the real store: the upstream is the real CNCF
Distribution (with Basic auth, signed in to with ``lamina login``) behind a proxy that counts
requests, or a double of Ollama's registry that redirects blob GETs to another host; clients
are lamina's own and the emulation of Ollama's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lamina.cli import main
from ocitypes import Digest
from tests.registry.distribution import (
    PASSWORD,
    USER,
    Proxy,
    ProxyHandler,
    Registry,
    free_port,
    redirect_blobs,
    start_registry,
)
from tests.registry.server.live import running
from tests.registry.server.ollama import Ollama

LAMINA = [sys.executable, "-c", "import sys; from lamina.cli import main; sys.exit(main())"]


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    registry = start_registry(tmp_path_factory.mktemp("mirror-upstream"), "basic")
    yield registry
    registry.stop()


@pytest.fixture
def config(tmp_path: Path) -> dict[str, str]:
    """The environment of every lamina process: its own config and Docker folders."""
    return {**os.environ, "LAMINA_CONFIG_DIR": str(tmp_path / "config"),
            "DOCKER_CONFIG": str(tmp_path / "docker")}


def lamina(env: dict[str, str], home: Path, *args: str,
           stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LAMINA, "--home", str(home), *args], capture_output=True,
                          text=True, timeout=120, check=False, env=env, input=stdin)


def login(env: dict[str, str], tmp_path: Path, host: str) -> None:
    done = lamina(env, tmp_path / "any", "login", host, "-u", USER, "--password-stdin",
                  stdin=PASSWORD)
    assert done.returncode == 0, done.stderr


def publish(env: dict[str, str], tmp_path: Path, tiny_gguf: Path, registry: Registry,
            repository: str) -> bytes:
    """Create a model and push it to the upstream with lamina; its manifest bytes."""
    home = tmp_path / "publisher"
    (tmp_path / "Modelfile").write_text(f"FROM {tiny_gguf}\nSYSTEM {repository}\n")
    for args in (("create", "tiny", "-f", str(tmp_path / "Modelfile")),
                 ("push", "tiny", f"{registry.host}/{repository}:latest", "-q")):
        done = lamina(env, home, *args)
        assert done.returncode == 0, done.stderr
    return (home / "manifests/registry.ollama.ai/library/tiny/latest").read_bytes()


def serving(env: dict[str, str], home: Path, *options: str) -> tuple[list[str], int]:
    port = free_port()
    return [*LAMINA, "--home", str(home), "serve", "--port", str(port), "-q", *options], port


def wait_for(path: Path, seconds: float = 30) -> bytes:
    """A file the mirror writes in the background once every blob of a model is in."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
    return path.read_bytes()


def counted(proxy: Proxy) -> list[tuple[str, str]]:
    return [(method, path) for method, path, _ in proxy.seen if path != "/v2/"]


def test_lamina_and_ollama_pull_through_a_mirror_of_distribution(
    upstream: Registry, config: dict[str, str], tmp_path: Path, tiny_gguf: Path
) -> None:
    login(config, tmp_path, upstream.host)
    manifest = publish(config, tmp_path, tiny_gguf, upstream, "team/tiny")
    proxy = Proxy(upstream.host)
    login(config, tmp_path, proxy.host)  # the mirror signs in to the host it reaches
    mirror_home = tmp_path / "mirror"
    command, port = serving(config, mirror_home, "--mirror", f"http://{proxy.host}")
    try:
        with running(command, port, env=config) as url:
            host = url.removeprefix("http://")
            first = lamina(config, tmp_path / "client1", "pull", f"{host}/team/tiny", "-q")
            assert first.returncode == 0, first.stderr
            filed = mirror_home / "manifests/registry.ollama.ai/team/tiny/latest"
            assert wait_for(filed) == manifest
            before = counted(proxy)
            assert any("/blobs/" in path for _, path in before)
            second = lamina(config, tmp_path / "client2", "pull", f"{host}/team/tiny", "-q")
            assert second.returncode == 0, second.stderr
            with Ollama(url, Ed25519PrivateKey.generate(), part_size=20) as ollama:
                got, blobs = ollama.pull("team/tiny", "latest")
            assert got == manifest
            assert all(str(Digest.of(data)) == digest for digest, data in blobs.items())
            assert counted(proxy) == before  # the second pulls never reached the upstream
    finally:
        proxy.stop()
    pulled = list((tmp_path / "client2/manifests").rglob("latest"))
    assert [p.read_bytes() for p in pulled] == [manifest]


def test_ollama_pulls_through_a_mirror_of_a_redirecting_registry(
    upstream: Registry, config: dict[str, str], tmp_path: Path, tiny_gguf: Path
) -> None:
    login(config, tmp_path, upstream.host)
    manifest = publish(config, tmp_path, tiny_gguf, upstream, "library/cdn")
    front, cdn = Proxy(upstream.host), Proxy(upstream.host)
    import base64

    basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    redirect_blobs(front, cdn, storage_auth=basic)
    login(config, tmp_path, front.host)
    mirror_home = tmp_path / "mirror"
    command, port = serving(config, mirror_home, "--mirror", f"http://{front.host}",
                            "--mirror-ttl", "0")
    try:
        with running(command, port, env=config) as url:
            with Ollama(url, Ed25519PrivateKey.generate(), part_size=30) as ollama:
                got, blobs = ollama.pull("library/cdn", "latest")
            assert got == manifest
            assert all(str(Digest.of(data)) == digest for digest, data in blobs.items())
            assert wait_for(mirror_home / "manifests/registry.ollama.ai/library/cdn/latest") \
                == manifest
            blob_gets = [p for m, p, _ in cdn.seen if m == "GET"]
            assert len(blob_gets) == len(blobs)
    finally:
        front.stop()
        cdn.stop()


def test_an_unreachable_upstream(config: dict[str, str], tmp_path: Path,
                                 tiny_gguf: Path) -> None:
    home = tmp_path / "mirror"
    (tmp_path / "Modelfile").write_text(f"FROM {tiny_gguf}\n")
    assert lamina(config, home, "create", "tiny", "-f", str(tmp_path / "Modelfile")) \
        .returncode == 0
    gone = f"127.0.0.1:{free_port()}"
    command, port = serving(config, home, "--mirror", f"http://{gone}")
    with running(command, port, env=config) as url:
        host = url.removeprefix("http://")
        local = lamina(config, tmp_path / "c1", "pull", f"{host}/library/tiny", "-q")
        assert local.returncode == 0, local.stderr
        missing = lamina(config, tmp_path / "c2", "pull", f"{host}/library/other", "-q")
        assert missing.returncode == 1
        assert f"the upstream {gone} could not provide the manifest" in missing.stderr
        assert "Traceback" not in missing.stderr
        answer = httpx.get(f"{url}/v2/library/other/manifests/latest")
        assert answer.status_code == 502 and answer.json()["errors"][0]["code"] == "UNKNOWN"
        pushed = lamina(config, tmp_path / "c1", "push", f"{host}/library/tiny",
                        f"{host}/team/mine:v1", "-q")
        assert pushed.returncode == 0, pushed.stderr  # pushes go to the local store
    assert (home / "manifests/registry.ollama.ai/team/mine/v1").exists()


def test_serve_mirror_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    for args, text in ((["--mirror", "ftp://example.org"], "is not scheme://host[:port]"),
                       (["--mirror", "https://example.org/v2/"], "is not scheme://host[:port]"),
                       (["--mirror", "http://"], "is not scheme://host[:port]"),
                       (["--mirror", "https://ünïcode.example"], "is not a host name"),
                       (["--mirror", "http://user:pw@host"], "run `lamina login HOST`"),
                       (["--mirror-ttl", "5"], "--mirror-ttl needs --mirror URL"),
                       (["--mirror", "https://x.org", "--mirror-ttl", "-1"], "-1")):
        result = runner.invoke(main, ["--home", str(tmp_path), "serve", *args],
                               catch_exceptions=False)
        assert result.exit_code == 2, (args, result.output)
        assert text in result.stderr


def test_serve_json_names_the_mirror(config: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen([*LAMINA, "--home", str(tmp_path / "h"), "serve", "--port",
                                str(port), "--json", "--mirror", "https://registry.ollama.ai"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=config)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
    finally:
        process.terminate()
        process.communicate(timeout=15)
    document = json.loads(line)
    assert document["mirror"] == "https://registry.ollama.ai"
    assert document["url"] == f"http://127.0.0.1:{port}"


def test_a_fetch_broken_off_upstream_is_resumed_by_the_next_request(
    upstream: Registry, config: dict[str, str], tmp_path: Path, tiny_gguf: Path
) -> None:
    login(config, tmp_path, upstream.host)
    manifest = publish(config, tmp_path, tiny_gguf, upstream, "team/flaky")
    weights = json.loads(manifest)["layers"][0]
    data = (tmp_path / f"publisher/blobs/sha256-{weights['digest'][7:]}").read_bytes()
    proxy = Proxy(upstream.host)
    login(config, tmp_path, proxy.host)
    broken = iter(range(3))  # every try of the mirror's first fetch breaks off half-way

    def truncate(handler: ProxyHandler) -> bool:
        if handler.command == "GET" and weights["digest"] in handler.path \
                and next(broken, None) is not None:
            handler.answer(200, data[:10], length=weights["size"])
            return True
        return False

    proxy.fault = truncate
    mirror_home = tmp_path / "mirror"
    command, port = serving(config, mirror_home, "--mirror", f"http://{proxy.host}")
    try:
        with running(command, port, env=config) as url:
            blob = f"{url}/v2/team/flaky/blobs/{weights['digest']}"
            first = httpx.get(blob, timeout=60)
            assert first.status_code == 502, first.text
            assert not (mirror_home / f"blobs/sha256-{weights['digest'][7:]}").exists()
            second = httpx.get(blob, timeout=60)  # before the fix: waited for ever on a lock
            assert second.status_code == 200, second.text
            assert second.content == data
            ranged = [h.get("Range") for m, p, h in proxy.seen if weights["digest"] in p]
            assert ranged[-1] == f"bytes=10-{weights['size'] - 1}"  # resumed, not refetched
    finally:
        proxy.stop()
