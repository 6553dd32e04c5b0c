"""Pulling GGUF models from Hugging Face into the store, one inode shared with the HF cache.

``hf.co/user/repo[:quant]`` (or ``huggingface.co/…``): the repository's file list with each
file's LFS sha256 comes first (``/api/models/{repo}/revision/main?blobs=true``), so a file the
store already holds is never downloaded; it is hardlinked into the HF cache instead, and
``huggingface_hub`` only makes its snapshot pointer. A missing file is fetched by lamina into
the store's partial blob for its sha256, asking the Hub (``hf_hub_url``, huggingface_hub's
headers and session, redirects followed) only for the ranges still missing, so a pull killed
halfway goes on from there in the next run; published verified, it is then hardlinked into the
HF cache like a blob the store had. Every such link is recorded in the ledger of files lamina
placed outside its home. A file only the HF cache has is hardlinked into the store. The
model is then built as ``create`` builds one FROM those files.

The Hub, its cache and the token are the ones ``huggingface_hub`` uses: ``HF_ENDPOINT``,
``HF_HUB_CACHE`` / ``HF_HOME``, ``HF_TOKEN`` or ``huggingface-cli login``; they are read at each
call, not when the library is imported.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..names import is_hub_name, parse_hub_name
from .errors import HubError, HubNotFound, HubUnauthorized, HubUnreachable
from .files import HubFile, Selection, select

if TYPE_CHECKING:
    from ..create import CreateResult
    from ..models import Store
    from ..names import Name

__all__ = ["HUB_CACHE_TARGET", "HubFileOutcome", "HubProgress", "HubPull", "hub_cache_dir",
           "is_hub_name", "pull"]

DEFAULT_ENDPOINT = "https://huggingface.co"
ATTEMPTS = 5
"""Tries per file within one run while each gets further than the last."""
HUB_CACHE_TARGET = "huggingface"
"""The ledger's target for files lamina placed in the HF cache."""


class HubProgress(Protocol):
    def begin(self, label: str, total: int) -> None: ...
    def advance(self, label: str, count: int) -> None: ...
    def end(self, label: str, text: str) -> None: ...


@dataclass(frozen=True, slots=True)
class HubFileOutcome:
    """One repository file: how it reached the store and the HF cache."""

    path: str
    digest: str
    size: int
    action: str  # "downloaded" or "present" (the store had it: nothing fetched)
    linked: str  # "hardlink" (one inode), or "copy" (across file systems), "store only"
    transferred: int


@dataclass(frozen=True, slots=True)
class HubPull:
    repo: str
    revision: str
    selection: Selection
    files: tuple[HubFileOutcome, ...]
    created: CreateResult

    @property
    def transferred(self) -> int:
        return sum(f.transferred for f in self.files)


def hub_cache_dir() -> Path:
    """Where ``huggingface_hub`` keeps its cache: HF_HUB_CACHE, else HF_HOME/hub."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "huggingface")
    return Path(home).expanduser() / "hub"


def pull(store: Store, text: str, *, progress: HubProgress | None = None) -> HubPull:
    """Fetch what ``hf.co/user/repo[:quant]`` names and file it in the store under ``text``."""
    from ..names import Name

    parsed = parse_hub_name(text)
    if parsed is None:
        raise HubNotFound(f"{text!r} is not a Hugging Face name; write hf.co/user/repo[:quant]")
    repo, quant = parsed
    name = Name.parse(text)
    endpoint = (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    token = os.environ.get("HF_TOKEN") or None
    with _hub_errors(repo, endpoint):
        revision, listed = _list_files(repo, endpoint, token)
        selection = select(repo, listed, quant)
        with _staging(store) as staging:
            # Held while blobs come in unnamed (gc takes the store exclusively); create
            # takes its own.
            with store.writing():
                fetcher = _Fetcher(store, repo, revision, endpoint, token, progress,
                                   str(name.without_digest()))
                outcomes = tuple(fetcher.fetch(f) for f in selection.files)
                froms = _stage(store, selection, outcomes, staging)
            created = _create(store, name, froms, staging, selection.quant)
    return HubPull(repo, revision, selection, outcomes, created)


def _list_files(repo: str, endpoint: str, token: str | None) -> tuple[str, list[HubFile]]:
    """The commit ``main`` is at, and every file with its size and LFS sha256."""
    from huggingface_hub import HfApi

    info = HfApi(endpoint=endpoint, token=token).model_info(
        repo, revision="main", files_metadata=True)
    files = [
        HubFile(s.rfilename, (s.lfs.size if s.lfs else s.size) or 0,
                s.lfs.sha256 if s.lfs else None)
        for s in info.siblings or []
    ]
    return info.sha or "main", files


class _Fetcher:
    """Brings one repository file into both the HF cache and the store, as one inode."""

    def __init__(self, store: Store, repo: str, revision: str, endpoint: str,
                 token: str | None, progress: HubProgress | None, model: str) -> None:
        self.store, self.repo, self.revision = store, repo, revision
        self.endpoint, self.token, self.progress = endpoint, token, progress
        self.cache = hub_cache_dir()
        self.model = model

    def fetch(self, file: HubFile) -> HubFileOutcome:
        from ocitypes import Digest

        if file.sha256 is None:
            raise HubError(f"hf.co/{self.repo}: {file.path} is not stored with LFS, so the "
                           "Hub gives no sha256 to check it by")
        digest = Digest(file.sha256.lower())
        if self.store.blobs.exists(digest):
            return self._present(file, digest)
        return self._download(file, digest)

    def _present(self, file: HubFile, digest: Any) -> HubFileOutcome:
        """The store has it: hardlink it into the HF cache, and let huggingface_hub point its
        snapshot at it (a metadata request, no download)."""
        linked = self._link_into_cache(file, digest)
        self._end(file, "already in the store")
        return HubFileOutcome(file.path, str(digest), file.size, "present", linked, 0)

    def _link_into_cache(self, file: HubFile, digest: Any) -> str:
        """Hardlink the stored blob as the HF cache's blob and have huggingface_hub add only
        its snapshot pointer; how the cache got it."""
        from ..link import LinkUnsupported

        blob = self._cache_blob(file)
        if not blob.exists():
            blob.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._place(digest, blob)
            except LinkUnsupported:
                return "store only"
        self._hf_download(file)
        return "hardlink"

    def _place(self, digest: Any, blob: Path) -> None:
        """Hardlink a stored blob into the HF cache and record it in the ledger of files
        lamina placed outside its home, so a removal takes exactly this file and never one
        huggingface_hub (or the user) put there."""
        from ..export.ledger import Entry, Ledger, Placed

        with Ledger(self.store.layout).editing() as ledger:
            self.store.blobs.link_out(digest, blob)
            entry = (ledger.find(HUB_CACHE_TARGET, self.cache, self.model)
                     or Entry(HUB_CACHE_TARGET, str(self.cache), self.model))
            entry.files = [p for p in entry.files if p.path != str(blob)] + [Placed.of(blob)]
            ledger.put(entry)

    def _download(self, file: HubFile, digest: Any) -> HubFileOutcome:
        """Fetch into the store's partial blob for the digest (kept across runs, so a pull
        killed halfway goes on from there), publish it verified, then link it into the HF
        cache as for a blob the store had."""
        if self._cache_blob(file).exists():
            return self._adopt(file, digest)
        transferred = _RangedDownload(self, file, digest).run()
        linked = self._link_into_cache(file, digest)
        self._end(file, "downloaded")
        return HubFileOutcome(file.path, str(digest), file.size, "downloaded", linked,
                              transferred)

    def _adopt(self, file: HubFile, digest: Any) -> HubFileOutcome:
        """The HF cache has the file and the store not: share its inode with the store."""
        from ..errors import DigestMismatch
        from ..link import LinkMethod

        pointer = Path(self._hf_download(file))
        blob = pointer.resolve()
        try:
            result = self.store.blobs.import_file(blob, expected=digest, share_inode=True)
        except DigestMismatch:
            # A corrupt file must not stay in the HF cache to be trusted next time.
            for path in (pointer, blob):
                path.unlink(missing_ok=True)
            raise
        linked = "copy" if result.method is LinkMethod.COPY else "hardlink"
        self._end(file, "in the HF cache")
        return HubFileOutcome(file.path, str(digest), file.size, "downloaded", linked, 0)

    def _cache_blob(self, file: HubFile) -> Path:
        """huggingface_hub's blob path for an LFS file: named by its sha256 (the ETag)."""
        folder = "models--" + self.repo.replace("/", "--")
        assert file.sha256 is not None
        return self.cache / folder / "blobs" / file.sha256.lower()

    def _hf_download(self, file: HubFile) -> str:
        from huggingface_hub import hf_hub_download

        path: str = hf_hub_download(
            self.repo, file.path, revision=self.revision, cache_dir=str(self.cache),
            endpoint=self.endpoint, token=self.token, tqdm_class=self._bar_class(file),
        )
        return path

    def _bar_class(self, file: HubFile) -> Any:
        """A tqdm that shows huggingface_hub's byte counts on lamina's own bar."""
        from tqdm import tqdm  # type: ignore[import-untyped]

        progress, label = self.progress, file.basename
        if progress is not None:
            progress.begin(label, file.size)

        class Relay(tqdm):  # type: ignore[misc]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                kwargs["disable"] = True
                super().__init__(*args, **kwargs)
                if progress is not None and kwargs.get("initial"):
                    progress.advance(label, int(kwargs["initial"]))

            def update(self, n: float | None = 1) -> bool | None:
                if progress is not None and n:
                    progress.advance(label, int(n))
                return None

        return Relay

    def _end(self, file: HubFile, text: str) -> None:
        if self.progress is not None:
            self.progress.end(file.basename, text)


class _RangedDownload:
    """One file's bytes from the Hub into the store's partial blob, asking only for the ranges
    still missing; a connection that breaks is asked again from where it stopped."""

    def __init__(self, fetcher: _Fetcher, file: HubFile, digest: Any) -> None:
        self.fetcher, self.file, self.digest = fetcher, file, digest
        self.received = 0

    def run(self) -> int:
        """Fetch, verify and publish; the bytes received in this run."""
        from huggingface_hub import hf_hub_url
        from huggingface_hub.utils._headers import build_hf_headers

        f = self.fetcher
        url = hf_hub_url(f.repo, self.file.path, revision=f.revision, endpoint=f.endpoint)
        headers = build_hf_headers(token=f.token)
        partial = f.store.blobs.partial(self.digest, self.file.size)
        label = self.file.basename
        if f.progress is not None:
            f.progress.begin(label, self.file.size)
            f.progress.advance(label, self.file.size - sum(e - s for s, e in partial.missing()))
        try:
            for attempt in range(ATTEMPTS):
                try:
                    for start, end in partial.missing():
                        self._fetch(url, headers, partial, start, end)
                    break
                except _Broken:
                    if attempt == ATTEMPTS - 1:
                        raise
            partial.commit()  # verifies; bytes that are not the file's are dropped
        except BaseException:
            partial.close()  # keep what was written for the next pull
            raise
        return self.received

    def _fetch(self, url: str, headers: dict[str, str], partial: Any, start: int,
               end: int) -> None:
        from huggingface_hub.utils._http import get_session, hf_raise_for_status

        wanted = {**headers, "Range": f"bytes={start}-{end - 1}"}
        offset = start
        try:
            with get_session().stream("GET", url, headers=wanted) as response:
                hf_raise_for_status(response)
                skip = start if response.status_code == 200 else 0  # the Range was ignored
                for chunk in response.iter_bytes():
                    if skip:
                        dropped = min(skip, len(chunk))
                        chunk, skip = chunk[dropped:], skip - dropped
                    chunk = chunk[:end - offset]
                    if not chunk:
                        continue
                    partial.write_at(offset, chunk)
                    offset += len(chunk)
                    self.received += len(chunk)
                    if self.fetcher.progress is not None:
                        self.fetcher.progress.advance(self.file.basename, len(chunk))
                    if offset >= end:
                        break
        except Exception as exc:
            if offset > start and _is_network(exc):
                raise _Broken from exc  # progress was made: worth asking again
            raise
        if offset < end:
            raise _Broken


class _Broken(Exception):
    """The Hub ended a file's bytes early."""

    def __str__(self) -> str:
        cause = self.__cause__
        return f"the connection broke off ({cause})" if cause else "the body ended early"


@contextlib.contextmanager
def _staging(store: Store) -> Iterator[Path]:
    """A folder beside the blobs (same file system) where the files get names create reads."""
    state = store.root / ".lamina"
    state.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="hf-", dir=state))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _stage(store: Store, selection: Selection, outcomes: tuple[HubFileOutcome, ...],
           staging: Path) -> list[str]:
    """Give each stored blob its Hub name in ``staging`` (a hardlink the hash cache knows, so
    create hashes nothing twice); the FROM lines naming them."""
    from ocitypes import Digest

    froms: list[str] = []
    for file, outcome in zip(selection.files, outcomes, strict=True):
        local = "mmproj.gguf" if file is selection.projector else file.basename
        store.blobs.link_out(Digest.parse(outcome.digest), staging / local)
        if file is selection.projector or file is selection.weights[0]:
            froms.append(f"FROM ./{local}")
    return froms


def _create(store: Store, name: Name, froms: list[str], staging: Path,
            quant: str) -> CreateResult:
    """Build the model as ``create`` would FROM the staged files."""
    import modelfile

    from ..create import create

    source = modelfile.parse("\n".join(froms) + "\n", file=f"hf.co ({quant})")
    result: CreateResult = create(store, name, source, base_dir=staging)
    return result


@contextlib.contextmanager
def _hub_errors(repo: str, endpoint: str) -> Iterator[None]:
    """huggingface_hub's and httpx's errors as one-line HubErrors that say what to do."""
    from huggingface_hub import errors

    try:
        yield
    except errors.GatedRepoError as exc:
        raise HubUnauthorized(
            f"hf.co/{repo} is gated: accept its terms on the Hub, then set HF_TOKEN or run "
            "`huggingface-cli login`") from exc
    except errors.RepositoryNotFoundError as exc:
        status = exc.response.status_code if exc.response is not None else 404
        hint = (" or private: set HF_TOKEN or run `huggingface-cli login`"
                if status == 401 else "; check the user and repository name")
        raise HubNotFound(f"hf.co/{repo}: no such repository{hint}") from exc
    except errors.RevisionNotFoundError as exc:
        raise HubNotFound(f"hf.co/{repo}: no main branch") from exc
    except errors.HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        if status in (401, 403):
            raise HubUnauthorized(f"hf.co/{repo}: access refused ({status}); set HF_TOKEN or "
                                  "run `huggingface-cli login`") from exc
        raise HubError(f"hf.co/{repo}: the Hub answered {status or 'an error'}") from exc
    except (errors.OfflineModeIsEnabled, errors.LocalEntryNotFoundError) as exc:
        raise HubUnreachable(f"cannot reach {endpoint} to pull hf.co/{repo}; check the "
                             "network (or HF_ENDPOINT)") from exc
    except _Broken as exc:
        raise HubUnreachable(f"{endpoint} ended hf.co/{repo} early ({exc}); run the pull "
                             "again to go on from there") from exc
    except OSError as exc:
        if _is_network(exc):
            raise HubUnreachable(f"cannot reach {endpoint} to pull hf.co/{repo}: {exc}") from exc
        raise
    except Exception as exc:
        if _is_network(exc):
            raise HubUnreachable(f"cannot reach {endpoint} to pull hf.co/{repo}: {exc}") from exc
        raise


def _is_network(exc: BaseException) -> bool:
    """An httpx (or httpx2) transport error: the network, not the Hub, failed."""
    return any(cls.__name__ in ("TransportError", "ConnectError", "TimeoutException")
               for cls in type(exc).__mro__)
