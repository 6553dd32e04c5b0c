"""The real CNCF Distribution registry on a free loopback port, with no auth, htpasswd Basic auth
or token auth (tokens issued by a small server in the test that the registry trusts), and a
fault-injecting proxy to put in front of it."""

from __future__ import annotations

import base64
import datetime
import http.client
import json
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

USER, PASSWORD = "lamina-user", "s3cret-pässword"
SERVICE, ISSUER = "lamina-test-registry", "lamina-test-issuer"


def registry_binary() -> str:
    """The Distribution binary; a missing peer fails under CI=true and skips elsewhere."""
    for name in ("docker-registry", "registry"):
        found = shutil.which(name)
        if found:
            return found
    message = "CNCF Distribution (Debian package docker-registry) is not installed"
    if os.environ.get("CI") == "true":
        pytest.fail(message + "; run scripts/install-peers.sh")
    pytest.skip(message + " (make test installs it)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Registry:
    """A running Distribution: ``host`` is ``127.0.0.1:<port>``."""

    host: str
    root: Path
    process: subprocess.Popen[bytes]
    token_server: TokenServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.token_server is not None:
            self.token_server.stop()


def start_registry(tmp: Path, auth: str = "none") -> Registry:
    """Distribution with ``auth`` one of ``none``, ``basic``, ``token``."""
    binary = registry_binary()
    port = free_port()
    lines = [
        "version: 0.1",
        "log:",
        "  level: error",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {tmp / 'data'}",
        "  delete:",
        "    enabled: true",
        "http:",
        f"  addr: 127.0.0.1:{port}",
        f"  secret: {secrets.token_hex(16)}",
    ]
    token_server = None
    if auth == "basic":
        import bcrypt

        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
        (tmp / "htpasswd").write_text(f"{USER}:{hashed}\n")
        lines += ["auth:", "  htpasswd:", "    realm: lamina-basic",
                  f"    path: {tmp / 'htpasswd'}"]
    elif auth == "token":
        token_server = TokenServer.start(tmp)
        lines += ["auth:", "  token:", f"    realm: {token_server.url}/token",
                  f"    service: {SERVICE}", f"    issuer: {ISSUER}",
                  f"    rootcertbundle: {token_server.cert_path}"]
    config = tmp / "config.yml"
    config.write_text("\n".join(lines) + "\n")
    with (tmp / "registry.log").open("wb") as log:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
    registry = Registry(f"127.0.0.1:{port}", tmp, process, token_server)
    _wait_until_up(registry, tmp / "registry.log")
    return registry


def _wait_until_up(registry: Registry, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if registry.process.poll() is not None:
            raise RuntimeError(f"registry exited: {log.read_text(errors='replace')}")
        try:
            connection = http.client.HTTPConnection(registry.host, timeout=1)
            connection.request("GET", "/v2/")
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.05)
    registry.stop()
    raise RuntimeError("registry did not start in 20 s")


# ---- token auth ------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class TokenServer:
    """Issues RS256 JWTs whose x5c certificate the registry trusts, granting what is asked;
    with ``require_login``, only to requests carrying the test user's Basic credentials."""

    server: ThreadingHTTPServer
    cert_path: Path
    key: object
    cert_der: bytes
    require_login: bool = True
    expires_in: int = 300
    requests: list[dict[str, list[str]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @classmethod
    def start(cls, tmp: Path) -> TokenServer:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lamina test token issuer")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        cert_path = tmp / "token-root.crt"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenHandler)
        token_server = cls(server, cert_path, key, cert.public_bytes(serialization.Encoding.DER))
        server.token_server = token_server  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return token_server

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def issue(self, scopes: list[str]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        access = []
        for scope in scopes:
            kind, rest = scope.split(":", 1)
            name, actions = rest.rsplit(":", 1)
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self.cert_der).decode()]}
        claims = {"iss": ISSUER, "sub": USER, "aud": SERVICE, "exp": now + self.expires_in,
                  "nbf": now - 5, "iat": now, "jti": secrets.token_hex(8), "access": access}
        signing_input = f"{_b64url(json.dumps(header).encode())}." \
                        f"{_b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(  # type: ignore[attr-defined]
            signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        return f"{signing_input}.{_b64url(signature)}"


class _TokenHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        owner: TokenServer = self.server.token_server  # type: ignore[attr-defined]
        query = parse_qs(urlsplit(self.path).query)
        owner.requests.append(query)
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if owner.require_login and self.headers.get("Authorization") != expected:
            self._answer(401, {"details": "bad credentials"})
            return
        if query.get("service") != [SERVICE]:
            self._answer(400, {"details": "wrong service"})
            return
        token = owner.issue(query.get("scope", []))
        self._answer(200, {"access_token": token, "expires_in": owner.expires_in})

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


# ---- fault-injecting proxy -------------------------------------------------------------------

Fault = Callable[["ProxyHandler"], bool]
"""Gets each request first; returns True when it answered the request itself."""


class Proxy:
    """Forwards to ``upstream`` (``host:port``); ``fault`` may answer or alter any request;
    ``seen`` records (method, path, headers) of every request."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.fault: Fault | None = None
        self.rewrite: Callable[[str, bytes], bytes] | None = None
        self.throttle: float = 0.0
        """Seconds to pause after each 64 KiB of a body sent (a slow link)."""
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), ProxyHandler)
        self.server.proxy = self  # type: ignore[attr-defined]
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    @property
    def proxy(self) -> Proxy:
        return self.server.proxy  # type: ignore[attr-defined,no-any-return]

    def _handle(self) -> None:
        self.proxy.seen.append((self.command, self.path, dict(self.headers.items())))
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        if self.proxy.fault is not None and self.proxy.fault(self):
            return
        self.forward()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def forward(self) -> None:
        connection = http.client.HTTPConnection(self.proxy.upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        headers["Host"] = self.proxy.host
        connection.request(self.command, self.path, body=self.body or None, headers=headers)
        response = connection.getresponse()
        data = response.read()
        original = data
        if self.proxy.rewrite is not None and self.command == "GET":
            data = self.proxy.rewrite(self.path, data)
        dropped = {"content-length", "transfer-encoding", "connection"}
        if data != original:  # a registry that mangles bytes would not name their digest
            dropped.add("docker-content-digest")
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in dropped:
                self.send_header(key, value.replace(self.proxy.upstream, self.proxy.host))
        length = response.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(data)))  # a HEAD has no body
        self.end_headers()
        if self.command != "HEAD":
            try:
                if self.proxy.throttle:
                    for at in range(0, len(data), 65536):
                        self.wfile.write(data[at : at + 65536])
                        time.sleep(self.proxy.throttle)
                else:
                    self.wfile.write(data)
            except ConnectionError:  # the client stopped reading, as it may
                self.close_connection = True
        connection.close()

    def answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
               *, length: int | None = None) -> None:
        """Answer directly; ``length`` may claim more bytes than sent (a truncated body)."""
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        if length is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        if length is not None:
            self.close_connection = True


@pytest.fixture
def proxy_factory() -> Iterator[Callable[[str], Proxy]]:
    made: list[Proxy] = []

    def make(upstream: str) -> Proxy:
        proxy = Proxy(upstream)
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.stop()


def redirect_blobs(front: Proxy, cdn: Proxy, storage_auth: str | None = None) -> None:
    """Make ``front`` answer blob GETs as Ollama's registry does: a 307 to another host name
    (``localhost`` rather than ``127.0.0.1``), where ``cdn`` serves the bytes and, like a
    presigned object-store URL, refuses any request carrying an Authorization header (it reads
    the registry's storage with ``storage_auth``, its own credentials)."""
    cdn_port = cdn.server.server_address[1]

    def redirect(handler: ProxyHandler) -> bool:
        if handler.command == "GET" and "/blobs/sha256:" in handler.path:
            handler.answer(307, b"", {"Location": f"http://localhost:{cdn_port}{handler.path}"})
            return True
        return False

    def presigned(handler: ProxyHandler) -> bool:
        if "Authorization" in handler.headers:
            handler.answer(400, b"<Error>only one auth mechanism allowed</Error>")
            return True
        if storage_auth is not None:
            handler.headers["Authorization"] = storage_auth
        return False

    front.fault = redirect
    cdn.fault = presigned
