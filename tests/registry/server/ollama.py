"""An emulation of Ollama's registry client (server/images.go, download.go, upload.go,
auth.go), written from what the issue records of its behaviour, to test ``lamina serve``
against without an Ollama binary.

Pull: the manifest with only the Docker v2 Accept; per blob a HEAD for Content-Length, a GET
that follows same-host redirects and must end on a 200 or 307 carrying ``Location``, then
parallel ``Range`` GETs of that URL *without* the Authorization header. Push: HEAD, POST,
PATCH parts with a bare ``Content-Range`` and ``X-Redirect-Uploads: 1``, ``PUT ?digest&etag``,
then the compact manifest. Auth: on a 401 Bearer challenge, a token request to the realm signed
with an ed25519 key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode, urljoin, urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
EMPTY = base64.b64encode(hashlib.sha256(b"").hexdigest().encode()).decode()


class OllamaError(Exception):
    pass


def public_line(key: Ed25519PrivateKey) -> str:
    """The ``id_ed25519.pub`` line Ollama writes."""
    return key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()


class Ollama:
    def __init__(self, base: str, key: Ed25519PrivateKey, *, part_size: int = 100) -> None:
        self.base = base.rstrip("/")
        self.key = key
        self.part_size = part_size
        self.token: str | None = None
        self.http = httpx.Client(follow_redirects=False, timeout=30)
        self.plain = httpx.Client(follow_redirects=True, timeout=30)  # http.DefaultClient

    def __enter__(self) -> Ollama:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        self.plain.close()

    # -- the request loop of makeRequestWithRetry -------------------------------------------

    def request(self, method: str, url: str, **options: object) -> httpx.Response:
        for _attempt in range(2):
            headers = dict(options.pop("headers", {}) or {})  # type: ignore[call-overload]
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            response = self.http.request(method, url, headers=headers, **options)  # type: ignore[arg-type]
            options["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
            if response.status_code != 401:
                return response
            self.token = self._sign_in(response.headers.get("www-authenticate", ""), url)
        raise OllamaError("unauthorized: access denied")

    def _sign_in(self, challenge: str, url: str) -> str:
        # getValue: each key's value runs from key=" to the next quote (commas included)
        fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge.removeprefix("Bearer ")))
        realm = fields.get("realm", "")
        if urlsplit(realm).netloc != urlsplit(url).netloc:
            raise OllamaError(f"realm host {realm!r} does not match original host {url!r}")
        query = {"nonce": base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("="),
                 "scope": fields.get("scope", ""), "service": fields.get("service", ""),
                 "ts": str(int(time.time()))}
        token_url = f"{realm}?{urlencode(sorted(query.items()))}"
        signature = self.key.sign(f"GET,{token_url},{EMPTY}".encode())
        key_b64 = public_line(self.key).split()[1]
        header = f"{key_b64}:{base64.b64encode(signature).decode()}"
        response = self.http.get(token_url, headers={"Authorization": header})
        if response.status_code != 200:
            raise OllamaError(f"{response.status_code}: {response.text}")
        return str(response.json()["token"])

    # -- pull --------------------------------------------------------------------------------

    def pull(self, repository: str, tag: str) -> tuple[bytes, dict[str, bytes]]:
        response = self.request("GET", f"{self.base}/v2/{repository}/manifests/{tag}",
                                headers={"Accept": DOCKER_V2})
        if response.status_code != 200:
            raise OllamaError(f"pull model manifest: {response.status_code} {response.text}")
        manifest = json.loads(response.content)
        blobs = {}
        for layer in [*manifest["layers"], manifest["config"]]:
            blobs[layer["digest"]] = self._download(repository, layer["digest"])
        return response.content, blobs

    def _download(self, repository: str, digest: str) -> bytes:
        blob_url = f"{self.base}/v2/{repository}/blobs/{digest}"
        head = self.request("HEAD", blob_url)
        size = int(head.headers["content-length"])
        direct = self._direct_url(blob_url)
        starts = list(range(0, size, self.part_size)) or [0]

        def part(start: int) -> bytes:
            end = min(start + self.part_size, size) - 1
            got = self.plain.get(direct, headers={"Range": f"bytes={start}-{end}"})
            if got.status_code != 206 or len(got.content) != end - start + 1:
                raise OllamaError(f"part {start}-{end}: {got.status_code}")
            return got.content

        with ThreadPoolExecutor(16) as pool:
            data = b"".join(pool.map(part, starts)) if size else b""
        actual = f"sha256:{hashlib.sha256(data).hexdigest()}"
        if actual != digest:
            raise OllamaError(f"digest mismatch, file must be downloaded again: want {digest}, "
                              f"got {actual}")
        return data

    def _direct_url(self, url: str) -> str:
        host = urlsplit(url).hostname
        for _ in range(10):
            with self._stream(url) as response:
                location = response.headers.get("location")
                if response.is_redirect and location:
                    target = urljoin(url, location)
                    if urlsplit(target).hostname == host:
                        url = target
                        continue
                if response.status_code not in (200, 307):
                    raise OllamaError(f"unexpected status code {response.status_code}")
                if not location:
                    raise OllamaError("http: no Location header in response")
                return urljoin(url, location)
        raise OllamaError("stopped after 10 redirects")

    def _stream(self, url: str) -> httpx.Response:
        self.request("HEAD", url)  # refresh the token if needed, as a retry would
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return self.http.stream("GET", url, headers=headers)  # type: ignore[return-value]

    # -- push --------------------------------------------------------------------------------

    def push(self, repository: str, tag: str, manifest: bytes, blobs: dict[str, bytes]) -> None:
        document = json.loads(manifest)
        for layer in [*document["layers"], document["config"]]:
            self._upload(repository, layer["digest"], blobs[layer["digest"]])
        compact = json.dumps(document, separators=(",", ":")).encode()
        response = self.request("PUT", f"{self.base}/v2/{repository}/manifests/{tag}",
                                content=compact, headers={"Content-Type": DOCKER_V2})
        if response.status_code != 201:
            raise OllamaError(f"{response.status_code}: {response.text}")

    def _upload(self, repository: str, digest: str, data: bytes) -> None:
        blob_url = f"{self.base}/v2/{repository}/blobs/{digest}"
        if self.request("HEAD", blob_url).status_code == 200:
            return
        started = self.request("POST", f"{self.base}/v2/{repository}/blobs/uploads/")
        if started.status_code != 202:
            raise OllamaError(f"{started.status_code}: {started.text}")
        location = started.headers.get("docker-upload-location") or started.headers["location"]
        if not urlsplit(location).scheme:
            raise OllamaError(f"unsupported protocol scheme in {location!r}")
        sums = []
        for start in range(0, len(data), self.part_size):
            chunk = data[start:start + self.part_size]
            response = self.request("PATCH", location, content=chunk, headers={
                "Content-Type": "application/octet-stream", "X-Redirect-Uploads": "1",
                "Content-Range": f"{start}-{start + len(chunk) - 1}"})
            if response.status_code != 202:
                raise OllamaError(f"{response.status_code}: {response.text}")
            location = response.headers.get("docker-upload-location") or \
                response.headers["location"]
            sums.append(hashlib.md5(chunk).digest())
        etag = f"{hashlib.md5(b''.join(sums)).hexdigest()}-{len(sums)}"
        separator = "&" if "?" in location else "?"
        query = urlencode({"digest": digest, "etag": etag})
        done = self.request("PUT", f"{location}{separator}{query}",
                            headers={"Content-Length": "0"})
        if done.status_code != 201:
            raise OllamaError(f"{done.status_code}: {done.text}")
