"""``lamina serve`` on the real store, in a real process: local models served as they are,
pushes by lamina's own client, Ollama's, skopeo's and oras's, sign-in, and refusals that
store nothing."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import httpx
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lamina.cli import main
from ocitypes import Digest, mediatypes
from tests.registry.server.conftest import manifest_bytes
from tests.registry.server.live import free_port, running
from tests.registry.server.ollama import Ollama, public_line

LAMINA = [sys.executable, "-c", "import sys; from lamina.cli import main; sys.exit(main())"]


def lamina(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LAMINA, "--home", str(home), *args], capture_output=True,
                          text=True, timeout=120, check=False)


def peer(name: str) -> str:
    """A real client the server is tested with: fails under CI=true when missing."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (scripts/install-peers.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture
def home(tmp_path: Path, tiny_gguf: Path) -> Path:
    """A store holding one local model, ``tiny``."""
    root = tmp_path / "home"
    (tmp_path / "Modelfile").write_text(f"FROM {tiny_gguf}\nSYSTEM be brief\n")
    created = lamina(root, "create", "tiny", "-f", str(tmp_path / "Modelfile"))
    assert created.returncode == 0, created.stderr
    return root


@pytest.fixture
def server(home: Path) -> Iterator[str]:
    port = free_port()
    with running([*LAMINA, "--home", str(home), "serve", "--port", str(port), "-q"],
                 port) as url:
        yield url


def blob_files(home: Path) -> set[str]:
    return {p.name for p in (home / "blobs").iterdir()}


def manifest_files(home: Path) -> set[Path]:
    return {p.relative_to(home) for p in home.rglob("*") if "manifest" in str(p)}


def test_a_local_model_is_served_from_its_own_files(home: Path, server: str) -> None:
    manifest_file = home / "manifests/registry.ollama.ai/library/tiny/latest"
    before = blob_files(home)
    got = httpx.get(f"{server}/v2/library/tiny/manifests/latest",
                    headers={"Accept": mediatypes.MANIFEST})
    assert got.status_code == 200
    assert got.content == manifest_file.read_bytes()
    assert got.headers["docker-content-digest"] == str(Digest.of(got.content))
    for layer in json.loads(got.content)["layers"]:
        blob = httpx.get(f"{server}/v2/library/tiny/blobs/{layer['digest']}")
        assert str(Digest.of(blob.content)) == layer["digest"]
    assert httpx.get(f"{server}/v2/_catalog").json() == {"repositories": ["library/tiny"]}
    assert blob_files(home) == before


def test_lamina_push_and_pull_through_lamina_serve(home: Path, server: str,
                                                   tmp_path: Path) -> None:
    host = server.removeprefix("http://")
    pushed = lamina(home, "push", "tiny", f"{host}/team/tiny:v1", "-q")
    assert pushed.returncode == 0, pushed.stderr
    assert "team/tiny" in httpx.get(f"{server}/v2/_catalog").json()["repositories"]
    other = tmp_path / "other"
    pulled = lamina(other, "pull", f"{host}/team/tiny:v1", "-q")
    assert pulled.returncode == 0, pulled.stderr
    served = httpx.get(f"{server}/v2/team/tiny/manifests/v1").content
    assert (other / f"manifests/{host.replace(':', '%3A')}/team/tiny/v1").exists() or \
        any(p.read_bytes() == served for p in (other / "manifests").rglob("v1"))


def test_ollama_pushes_and_pulls_with_the_real_store(home: Path, server: str) -> None:
    weights = os.urandom(300_000)
    config = b'{"model_format":"gguf","model_family":"test"}'
    manifest = manifest_bytes(config, (weights,))
    blobs = {str(Digest.of(b)): b for b in (config, weights)}
    with Ollama(server, Ed25519PrivateKey.generate(), part_size=100_000) as client:
        client.push("someone/model", "latest", manifest, blobs)
        _, got = client.pull("someone/model", "latest")
    assert got == blobs
    listed = lamina(home, "list")
    assert "someone/model" in listed.stdout


def test_refused_pushes_store_nothing(home: Path, server: str) -> None:
    before = blob_files(home), manifest_files(home)
    data = os.urandom(1000)
    wrong = str(Digest.of(b"something else"))
    assert httpx.post(f"{server}/v2/x/y/blobs/uploads/?digest={wrong}",
                      content=data).status_code == 400
    missing = manifest_bytes(b"{}", (data,))
    response = httpx.put(f"{server}/v2/x/y/manifests/v1", content=missing,
                         headers={"Content-Type": mediatypes.MANIFEST})
    assert response.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"
    huge = b'{"schemaVersion":2,"pad":"' + b"x" * (4 << 20) + b'"}'
    assert httpx.put(f"{server}/v2/x/y/manifests/v1", content=huge).status_code == 413
    for name in ("../../etc", "x/y/z", "X/Y"):
        response = httpx.put(f"{server}/v2/{name}/manifests/v1", content=missing)
        assert response.status_code in (400, 404), name
    assert (blob_files(home), manifest_files(home)) == before
    assert not list((home / ".lamina/uploads").glob("*")) if (
        home / ".lamina/uploads").exists() else True


def oci_layout(root: Path, files: dict[str, bytes]) -> str:
    """An OCI image layout with one OCI manifest (Ollama layer types), tag ``v1``."""
    blobs = root / "blobs/sha256"
    blobs.mkdir(parents=True)
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    for data in (config, *files.values()):
        (blobs / Digest.of(data).hex).write_bytes(data)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": mediatypes.OCI_MANIFEST,
        "config": {"mediaType": mediatypes.OCI_CONFIG, "digest": str(Digest.of(config)),
                   "size": len(config)},
        "layers": [{"mediaType": mediatypes.MODEL, "digest": str(Digest.of(d)), "size": len(d)}
                   for d in files.values()],
    }).encode()
    (blobs / Digest.of(manifest).hex).write_bytes(manifest)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": mediatypes.OCI_MANIFEST, "digest": str(Digest.of(manifest)),
        "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}))
    return str(Digest.of(manifest))


def test_skopeo_copies_into_and_out_of_lamina_serve(server: str, tmp_path: Path) -> None:
    skopeo = peer("skopeo")
    digest = oci_layout(tmp_path / "in", {"w": os.urandom(200_000)})
    host = server.removeprefix("http://")
    base = [skopeo, "--insecure-policy"]
    copied = subprocess.run([*base, "copy", "--dest-tls-verify=false",
                             f"oci:{tmp_path / 'in'}:v1", f"docker://{host}/skopeo/model:v1"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert copied.returncode == 0, copied.stderr
    served = httpx.get(f"{server}/v2/skopeo/model/manifests/v1",
                       headers={"Accept": mediatypes.OCI_MANIFEST})
    assert str(Digest.of(served.content)) == digest
    back = subprocess.run([*base, "copy", "--src-tls-verify=false",
                           f"docker://{host}/skopeo/model:v1", f"oci:{tmp_path / 'out'}:v1"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert back.returncode == 0, back.stderr
    assert sorted(p.name for p in (tmp_path / "out/blobs/sha256").iterdir()) == \
        sorted(p.name for p in (tmp_path / "in/blobs/sha256").iterdir())
    tags = subprocess.run([*base, "list-tags", "--tls-verify=false",
                           f"docker://{host}/skopeo/model"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert json.loads(tags.stdout)["Tags"] == ["v1"]


def test_oras_pushes_and_pulls_files(server: str, tmp_path: Path) -> None:
    import oras.client

    host = server.removeprefix("http://")
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(150_000))
    client = oras.client.OrasClient(hostname=host, insecure=True)
    os.chdir(tmp_path)  # oras names a pushed file by its path relative to here
    response = client.push(target=f"{host}/oras/files:v1", files=[source.name])
    assert response.status_code == 201
    out = tmp_path / "out"
    pulled = client.pull(target=f"{host}/oras/files:v1", outdir=str(out))
    assert [Path(p).read_bytes() for p in pulled] == [source.read_bytes()]


@pytest.fixture
def guarded(home: Path, tmp_path: Path) -> Iterator[str]:
    """Sign-in with htpasswd; anonymous pull; alice pushes to alice/*, nobody to library/*."""
    hashed = bcrypt.hashpw(b"wonderland", bcrypt.gensalt(rounds=4)).decode()
    (tmp_path / "htpasswd").write_text(f"alice:{hashed}\nbob:{hashed}\n")
    (tmp_path / "access").write_text("library/*  *  -\n@owner/*  *  @owner\n")
    port = free_port()
    command = [*LAMINA, "--home", str(home), "serve", "--port", str(port), "-q",
               "--auth", "htpasswd", "--htpasswd", str(tmp_path / "htpasswd"),
               "--access", str(tmp_path / "access"), "--anonymous-pull"]
    with running(command, port) as url:
        yield url


def basic(user: str, password: str = "wonderland") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_anonymous_pull_and_authenticated_push(guarded: str, home: Path) -> None:
    assert httpx.get(f"{guarded}/v2/library/tiny/manifests/latest").status_code == 200
    data = b"alice's weights"
    digest = str(Digest.of(data))
    push = f"{guarded}/v2/alice/model/blobs/uploads/?digest={digest}"
    anonymous = httpx.post(push, content=data)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith(
        f'Bearer realm="{guarded}/v2/token"')
    assert httpx.post(push, content=data, headers=basic("alice", "nope")).status_code == 401
    assert httpx.post(push, content=data, headers=basic("bob")).status_code == 403
    assert digest.removeprefix("sha256:") not in {n[7:] for n in blob_files(home)}
    assert httpx.post(push, content=data, headers=basic("alice")).status_code == 201


def test_tokens_carry_only_what_the_rules_allow(guarded: str) -> None:
    scope = "repository:library/tiny:pull,push"
    token = httpx.get(f"{guarded}/v2/token", params={"scope": scope, "service": "x"},
                      headers=basic("alice")).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{guarded}/v2/library/tiny/tags/list", headers=bearer).status_code == 200
    refused = httpx.post(f"{guarded}/v2/library/tiny/blobs/uploads/", headers=bearer)
    assert refused.status_code == 401
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    assert httpx.get(f"{guarded}/v2/token", headers=basic("alice", "x")).status_code == 401


def test_ollama_key_sign_in_with_lamina_serve(home: Path, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    (tmp_path / "keys").write_text(public_line(key) + " carol\n")
    (tmp_path / "access").write_text("@owner/*  @owner  @owner\n")
    port = free_port()
    command = [*LAMINA, "--home", str(home), "serve", "--port", str(port), "-q",
               "--authorized-keys", str(tmp_path / "keys"), "--access", str(tmp_path / "access")]
    weights = os.urandom(50_000)
    manifest = manifest_bytes(b"{}", (weights,))
    blobs = {str(Digest.of(b)): b for b in (b"{}", weights)}
    with running(command, port) as url, Ollama(url, key, part_size=20_000) as client:
        client.push("carol/model", "v1", manifest, blobs)
        assert client.pull("carol/model", "v1")[1] == blobs
        assert httpx.get(f"{url}/v2/carol/model/manifests/v1").status_code == 401


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    for args in (["--auth", "htpasswd"], ["--tls-cert", __file__],
                 ["--access", __file__], ["--port", "70000"], ["--auth", "basic"],
                 ["--public-url", "not a url"], ["--public-url", "https://h/path"],
                 ["--public-url", "ftp://h"], ["--public-url", "http://h:port"]):
        result = CliRunner().invoke(main, ["--home", str(tmp_path), "serve", *args],
                                    catch_exceptions=False)
        assert result.exit_code == 2, (args, result.output)


def test_a_bad_credentials_file_exits_1_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "htpasswd").write_text("alice:plaintext\n")
    result = CliRunner().invoke(main, ["--home", str(tmp_path), "serve", "--auth", "htpasswd",
                                       "--htpasswd", str(tmp_path / "htpasswd")],
                                catch_exceptions=False)
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {tmp_path / 'htpasswd'}:1: expected user:bcrypt-hash "
                             "(make one with htpasswd -B)\n")


def test_a_port_in_use_exits_1(server: str, home: Path) -> None:
    port = server.rsplit(":", 1)[1]
    result = lamina(home, "serve", "--port", port, "--json")
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "os_error" and "choose another --port" in error["message"]


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls(home: Path, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    port = free_port()
    command = [*LAMINA, "--home", str(home), "serve", "--port", str(port), "-q",
               "--tls-cert", str(cert), "--tls-key", str(key)]
    with running(command, port, scheme="https") as url:
        assert url.startswith("https://")
        with httpx.Client(verify=False) as client:
            got = client.get(f"{url}/v2/library/tiny/manifests/latest")
            assert got.status_code == 200
            assert got.content == (home / "manifests/registry.ollama.ai/library/tiny/latest"
                                   ).read_bytes()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=5)
        # lamina's client checks certificates on https (its TLS setup is made on first use).
        from registry.client import connect
        from registry.reference import Reference

        with connect(Reference(f"127.0.0.1:{port}", "library/tiny", "latest")) as transport, \
                pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            transport.client.get(f"{url}/v2/")
