"""A Hugging Face Hub stand-in on loopback, serving what ``huggingface_hub`` asks for on a pull.

    GET  /api/models/{user}/{repo}/revision/{rev}[?blobs=true]   model info with LFS sha256s
    HEAD /{user}/{repo}/resolve/{rev}/{path}    X-Repo-Commit, ETag / X-Linked-Etag, sizes
    GET  /{user}/{repo}/resolve/{rev}/{path}    the bytes, honouring ``Range: bytes=N-``

Errors carry ``X-Error-Code`` as the Hub's do (RepoNotFound, GatedRepo, EntryNotFound). Every
request is recorded; faults can be switched on per file: ``corrupt`` serves other bytes than
the sha256 announced, ``cut_at`` ends the first GET's body after that many bytes. ``sent``
counts the body bytes served per file.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"

_INFO = re.compile(r"^/api/models/([^/]+/[^/]+)/revision/([^/?]+)")
_RESOLVE = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")


@dataclass
class Hub:
    repos: dict[str, dict[str, bytes]] = field(default_factory=dict)
    gated: set[str] = field(default_factory=set)
    corrupt: set[str] = field(default_factory=set)
    cut_at: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)
    stall_at: dict[str, int] = field(default_factory=dict)
    """Send the first GET's body up to that byte slowly (16 bytes per ``pace`` s), then hang
    until ``release`` is set: a transfer to kill mid-way."""
    pace: float = 0.2
    release: threading.Event = field(default_factory=threading.Event)
    """Body bytes sent per file name (its last path segment)."""
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def gets(self, file: str) -> list[tuple[str, str, str | None]]:
        """The GET requests for one file's bytes."""
        return [r for r in self.requests if r[0] == "GET" and r[1].endswith("/" + file)]

    def stop(self) -> None:
        assert self.server is not None
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def start_hub() -> Hub:
    hub = Hub()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._handle(body=True)

        def do_HEAD(self) -> None:
            self._handle(body=False)

        def _handle(self, *, body: bool) -> None:
            hub.requests.append((self.command, self.path, self.headers.get("Range")))
            if (match := _INFO.match(self.path)) is not None:
                self._info(match[1])
            elif (match := _RESOLVE.match(self.path)) is not None:
                self._file(match[1], match[3], body=body)
            else:
                self._error(404, "RepoNotFound", "not a Hub path")

        def _known(self, repo: str) -> dict[str, bytes] | None:
            if repo in hub.gated and "authorization" not in self.headers:
                self._error(401, "GatedRepo", f"Access to model {repo} is restricted.")
                return None
            if repo not in hub.repos:
                self._error(401, "RepoNotFound", "Repository not found")
                return None
            return hub.repos[repo]

        def _info(self, repo: str) -> None:
            files = self._known(repo)
            if files is None:
                return
            siblings = [
                {"rfilename": path, "size": len(data), "blobId": "b" * 40,
                 "lfs": {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                         "pointerSize": 134}}
                for path, data in files.items()
            ]
            document = {"id": repo, "modelId": repo, "sha": COMMIT, "private": False,
                        "siblings": siblings}
            self._send(200, json.dumps(document).encode(), {"Content-Type": "application/json"})

        def _file(self, repo: str, path: str, *, body: bool) -> None:
            files = self._known(repo)
            if files is None:
                return
            if path not in files:
                self._error(404, "EntryNotFound", f"{path} does not exist", commit=True)
                return
            data = files[path]
            sha = hashlib.sha256(data).hexdigest()
            if path in hub.corrupt:
                data = bytes(b ^ 0xFF for b in data)
            headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{sha}"', "X-Linked-Etag": f'"{sha}"',
                       "X-Linked-Size": str(len(data)), "Accept-Ranges": "bytes"}
            start = 0
            if (wanted := self.headers.get("Range")) is not None:
                start = int(wanted.split("=")[1].split("-")[0])
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            status = 206 if start else 200
            if not body:
                self._send(status, b"", {**headers, "Content-Length": str(len(data))})
                return
            cut = hub.cut_at.pop(path, None)
            stall = hub.stall_at.pop(path, None)
            self._send(status, data[start:], headers, cut=cut if stall is None else stall,
                       stall=stall is not None)

        def _error(self, status: int, code: str, message: str, *, commit: bool = False) -> None:
            headers = {"X-Error-Code": code, "X-Error-Message": message,
                       "Content-Type": "application/json"}
            if commit:
                headers["X-Repo-Commit"] = COMMIT
            self._send(status, json.dumps({"error": message}).encode(), headers)

        def _send(self, status: int, data: bytes, headers: dict[str, str], *,
                  cut: int | None = None, stall: bool = False) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command == "HEAD":
                return
            name = self.path.rsplit("/", 1)[-1]
            if stall:
                for at in range(0, cut or 0, 16):
                    piece = data[at:min(at + 16, cut or 0)]
                    self.wfile.write(piece)
                    self.wfile.flush()
                    hub.sent[name] = hub.sent.get(name, 0) + len(piece)
                    time.sleep(hub.pace)
                hub.release.wait(30)
                self.close_connection = True
                return
            hub.sent[name] = hub.sent.get(name, 0) + len(data if cut is None else data[:cut])
            if cut is not None:  # the connection drops mid-body
                self.wfile.write(data[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(data)

    hub.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=hub.server.serve_forever, daemon=True).start()
    return hub
