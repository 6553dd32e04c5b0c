"""Moving models between the store and OCI registries: pull, push, login."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..app import App, pass_app, transfer_bar
from ..completion import complete_model_names
from ..options import PathParam, json_option, quiet_option
from ..output import human_bytes, plural
from .models import read_modelfile

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

    from ocitypes import Descriptor, Digest
    from registry.client import BlobOutcome, PullResult, PushResult
    from registry.client.events import Action


insecure_option = click.option(
    "--insecure", is_flag=True,
    help="Speak plain http to the registry (loopback hosts always do).",
)  # fmt: skip

_DONE_TEXT = {
    "fetched": "pulled", "resumed": "done (resumed)", "skipped": "already in the store",
    "sent": "pushed", "mounted": "mounted from another repository",
    "present": "already on the registry",
}  # fmt: skip


@click.command()
@click.argument("name")
@insecure_option
@json_option
@quiet_option
@pass_app
def pull(app: App, name: str, insecure: bool, as_json: bool, quiet: bool) -> None:
    """Fetch a model from its registry (host/namespace/model:tag), resuming an interrupted pull.

    Blobs already in the store are not fetched again. hf.co/user/repo[:quant] pulls a GGUF
    model from Hugging Face (Q4_K_M by default), sharing each file with the HF cache.
    """
    from .. import transfer

    app.quiet = quiet
    if _from_hub(name):
        _hub_pull(app, name, as_json=as_json)
        return
    with _progress(app) as progress:
        filed, result = transfer.pull(app.store(), name, insecure=insecure, progress=progress)
    if as_json:
        app.emit_document(transfer_document(filed.display_shortest(), result))
        return
    fetched = sum(blob.transferred for blob in result.blobs)
    app.echo(f"pulled {filed.display_shortest()} ({result.digest.short}): "
             f"{human_bytes(fetched)} fetched, {_skipped(result.blobs, 'skipped')}")


@click.command()
@click.argument("name", shell_complete=complete_model_names)
@click.argument("destination", required=False)
@insecure_option
@json_option
@quiet_option
@pass_app
def push(app: App, name: str, destination: str | None, insecure: bool, as_json: bool,
         quiet: bool) -> None:
    """Publish a model to the registry its name points at (host/namespace/model:tag).

    With DESTINATION, the model is first copied to that name (as cp), then pushed there.
    """
    from .. import transfer

    app.quiet = quiet
    with _progress(app) as progress:
        pushed, result = transfer.push(app.store(), name, destination, insecure=insecure,
                                       progress=progress)
    if as_json:
        app.emit_document(transfer_document(pushed.display_shortest(), result))
        return
    app.echo(f"pushed {pushed.display_shortest()} ({result.digest.short}): "
             f"{human_bytes(result.transferred)} sent, {_skipped(result.blobs, 'present')}")


@click.command()
@click.argument("host")
@click.option("-u", "--username", help="User name [default: asked].")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@insecure_option
@json_option
@pass_app
def login(app: App, host: str, username: str | None, password_stdin: bool, insecure: bool,
          as_json: bool) -> None:
    """Save credentials for a registry HOST (checked against it first), readable by you alone.

    Credentials from `docker login` (~/.docker/config.json, and the credential helpers it
    names) are used without this.
    """
    from registry.client import Credentials

    from .. import transfer

    host, insecure = _login_host(host, insecure=insecure)
    if username is None:
        username = _ask(app, "Username", hide=False)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = _ask(app, "Password", hide=True)
    if not username or not password:
        app.fail("a user name and a password are needed", code="usage_error", exit_code=2)
    credentials = Credentials(username, password)
    _check_login(host, credentials, insecure=insecure)
    file = transfer.credential_files()[0]
    file.save(host, credentials)
    if as_json:
        from .. import schema

        app.emit(schema.LoginOutput(host=host, username=username, path=str(file.path)))
        return
    app.echo(f"logged in to {host} as {username} (saved in {file.path})")


def _ask(app: App, what: str, *, hide: bool) -> str:
    """Ask at the terminal; without one, say which options to give instead of waiting."""
    if not sys.stdin.isatty():
        app.fail(f"no terminal to ask for the {what.lower()} on: give -u NAME and "
                 "--password-stdin", code="usage_error", exit_code=2)
    try:
        answer: str = click.prompt(what, hide_input=hide, err=True)
    except click.Abort:  # Ctrl-C or Ctrl-D at the prompt
        raise KeyboardInterrupt from None
    return answer


def _login_host(text: str, *, insecure: bool) -> tuple[str, bool]:
    """The ``host[:port]`` credentials are saved under, lower-cased as names look hosts up;
    ``https://host/`` is accepted as Docker accepts it, ``http://host`` means ``--insecure``."""
    from registry.reference import is_host

    host = text.strip()
    plain = host.lower().startswith("http://")
    for scheme in ("https://", "http://"):
        if host.lower().startswith(scheme):
            host = host[len(scheme):]
    host = host.rstrip("/")
    if not is_host(host):
        raise click.BadParameter(f"{text!r} is not a registry host; give host or host:port, "
                                 "such as registry.example:5000", param_hint="'HOST'")
    return host.lower(), insecure or plain


def _check_login(host: str, credentials: object, *, insecure: bool) -> None:
    """GET /v2/ with the credentials: a 401 means they are wrong."""
    from registry.client import Credentials, connect
    from registry.reference import Reference

    assert isinstance(credentials, Credentials)
    reference = Reference(host, "lamina/login", "latest", None, insecure)
    with connect(reference, lambda asked: credentials) as transport:
        transport.request("GET", transport.url("/v2/"), what=f"login to {host}")


def _skipped(blobs: list[BlobOutcome], action: str) -> str:
    kept = [blob for blob in blobs if blob.action in (action, "mounted")]
    return f"{plural(len(kept), 'blob')} {_DONE_TEXT[action]}"


def transfer_document(name: str, result: PullResult | PushResult) -> dict[str, Any]:
    """``schema.PullOutput`` or ``schema.PushOutput``, built as plain data: importing pydantic
    and the schema costs about 0.15 s, a third of a small pull's whole run, and a pull or push
    is what scripts run most. The transfer tests validate it against the schema models."""
    return {
        "name": name, "id": str(result.digest), "reference": result.reference,
        "blobs": [
            {"digest": str(b.digest), "media_type": b.media_type, "size": b.size,
             "action": b.action, "transferred_size": b.transferred}
            for b in result.blobs
        ],
        "transferred_size": result.transferred,
    }


class _Lines:
    """Progress as one line per finished blob: for logs and pipes."""

    def __init__(self, app: App) -> None:
        self.app = app

    def begin(self, descriptor: Descriptor, done: int) -> None:
        pass

    def advance(self, digest: Digest, count: int) -> None:
        pass

    def end(self, digest: Digest, action: Action) -> None:
        self.app.status(f"{digest.short}: {_DONE_TEXT[action]}")


class _Bars:
    """One rich bar per blob (bytes, rate, ETA), as ``ollama pull`` shows them."""

    def __init__(self, bar: RichProgress) -> None:
        self.bar = bar
        self.tasks: dict[Digest, TaskID] = {}
        self.lock = threading.Lock()

    def begin(self, descriptor: Descriptor, done: int) -> None:
        with self.lock:
            self.tasks[descriptor.digest] = self.bar.add_task(
                descriptor.digest.short, total=descriptor.size, completed=done
            )

    def advance(self, digest: Digest, count: int) -> None:
        self.bar.advance(self.tasks[digest], count)

    def end(self, digest: Digest, action: Action) -> None:
        task = self.tasks[digest]
        self.bar.update(task, description=f"{digest.short} {_DONE_TEXT[action]}",
                        completed=self.bar.tasks[task].total)


class _progress:
    """Bars on a terminal, lines otherwise, nothing with --quiet or --json."""

    def __init__(self, app: App, *, hub: bool = False) -> None:
        self.app = app
        self.bar: RichProgress | None = None
        self.hub = hub

    def __enter__(self) -> Any:
        app = self.app
        if app.quiet or app.json_mode:
            return None
        if app.console is None and not sys.stderr.isatty():
            return _HubLines(app) if self.hub else _Lines(app)
        from rich.console import Console

        console = app.console or Console(stderr=True, highlight=False)
        self.bar = transfer_bar(console, transient=False, only_on_terminal=False)
        self.bar.start()
        return _HubBars(self.bar) if self.hub else _Bars(self.bar)

    def __exit__(self, *exc_info: object) -> None:
        if self.bar is not None:
            self.bar.stop()


LOCK_SUFFIX = ".lock"
_NOT_FOLDERS = (("/", "dev"), ("/", "proc"))  # /dev/stdin, /dev/fd/0: no folder for a lock


@click.command()
@click.option("-f", "--file", "path", type=PathParam(path_type=Path), default=Path("Modelfile"),
              show_default=True, help="The Modelfile whose FROM names to lock.")
@insecure_option
@json_option
@quiet_option
@pass_app
def lock(app: App, path: Path, insecure: bool, as_json: bool, quiet: bool) -> None:
    """Write Modelfile.lock: the manifest digest each FROM name resolves to now (in the store,
    else on its registry), so that `create --locked` builds from exactly those."""
    from .. import transfer

    app.quiet = quiet
    if path.exists() and ((not path.is_file() and not path.is_dir())
                          or Path(os.path.realpath(path.parent)).parts[:2] in _NOT_FOLDERS):
        # /dev/stdin, a pipe: nothing on disk to write the lock beside
        app.fail(f"{path} is not a file; the lock is written beside the Modelfile, so give "
                 "a Modelfile on disk", code="usage_error", exit_code=2)
    recipe, base_dir = _recipe(app, path)
    store_ = app.store()
    locked: dict[str, str] = {}
    for spelled in _parent_names(recipe, base_dir, store_):
        if _from_hub(spelled):
            locked[spelled] = _hub_digest(app, spelled)
            continue
        locked[spelled] = str(transfer.resolve_digest(store_, spelled, insecure=insecure))
    target = path.with_name(path.name + LOCK_SUFFIX)
    transfer.write_lock(target, locked)
    if as_json:
        from .. import schema

        app.emit(schema.LockOutput(path=str(target), locked=[
            schema.LockedName(name=n, digest=d) for n, d in locked.items()
        ]))
        return
    for spelled, digest in locked.items():
        app.status(f"FROM {spelled}: {digest}")
    app.echo(f"locked {plural(len(locked), 'name')} in {target}")


def _recipe(app: App, path: Path) -> tuple[object, Path]:
    import modelfile

    source, _, base_dir = read_modelfile(app, path)
    recipe, _ = modelfile.analyse(source)
    return recipe, base_dir


def _parent_names(recipe: object, base_dir: Path, store_: object) -> list[str]:
    """The model names FROM builds on (none for a Modelfile built from files)."""
    from store import Store
    from store.build.sources import MissingParent, ParentModel, find_sources

    assert isinstance(store_, Store)
    base = find_sources(recipe, base_dir, store_.resolve).base  # type: ignore[arg-type]
    if isinstance(base, ParentModel | MissingParent):
        return [base.spelled]
    return []


def ensure_locked(app: App, path: Path, base_dir: Path, recipe: object) -> None:
    """Before ``create --locked``: each FROM name at its locked digest, pulled if need be."""
    from .. import transfer

    store_ = app.store()
    lock_path = path.with_name(path.name + LOCK_SUFFIX)
    locked = transfer.read_lock(lock_path)
    for spelled in _parent_names(recipe, base_dir, store_):
        digest = locked.get(spelled)
        if digest is None:
            app.fail(f"{lock_path} does not lock FROM {spelled}; run `lamina lock -f {path}`",
                     code="lock_mismatch")
        if transfer.local_digest(store_, spelled) == digest:
            continue
        if _from_hub(spelled):
            built = _hub_digest(app, spelled)
            if built != digest:
                app.fail(f"FROM {spelled} is {built} now, not {digest} as {lock_path} says: "
                         "its files on Hugging Face changed (or the store holds another "
                         f"build); check it, then run `lamina lock -f {path}`",
                         code="lock_mismatch")
            continue
        app.status(f"pulling {spelled}@{digest}")
        with _progress(app) as progress:
            transfer.pull(store_, f"{spelled}@{digest}", progress=progress)


def _from_hub(spelled: str) -> bool:
    from store.names import is_hub_name  # not store.hub: a registry pull never loads it

    return is_hub_name(spelled)


def _hub_digest(app: App, spelled: str) -> str:
    """The manifest digest of the Hugging Face model ``spelled`` as the store builds it,
    pulled first if the store lacks it: the Hub has no manifest digest of its own, and a
    build from the same files is the same manifest on every machine."""
    from .. import transfer

    store_ = app.store()
    digest = transfer.local_digest(store_, spelled)
    if digest is None:
        pull_parent(app, spelled)
        digest = transfer.local_digest(store_, spelled)
    assert digest is not None  # a pull that succeeded filed the name
    return digest


def pull_parent(app: App, spelled: str) -> None:
    """``create`` with FROM a model the store lacks pulls it first, as Ollama does."""
    from .. import transfer

    app.status(f"pulling {spelled}")
    if _from_hub(spelled):
        _hub_pull(app, spelled, as_json=False, report=False)  # create reports, once
        return
    with _progress(app) as progress:
        transfer.pull(app.store(), spelled, progress=progress)


def _hub_pull(app: App, name: str, *, as_json: bool, report: bool = True) -> None:
    """A Hugging Face pull, reported as ``pull`` reports a registry's."""
    from store import hub

    from .. import schema

    with _progress(app, hub=True) as progress:
        pulled = hub.pull(app.store(), name, progress=progress)
    created = pulled.created
    shown = created.name.display_shortest()
    if not report:
        return
    if as_json:
        app.emit(schema.HubPullOutput(
            name=shown, id=str(created.manifest.digest), repository=pulled.repo,
            revision=pulled.revision, quant=pulled.selection.quant,
            transferred_size=pulled.transferred,
            files=[schema.HubFile(path=f.path, digest=f.digest, size=f.size,
                                  action=f.action,  # type: ignore[arg-type]
                                  linked=f.linked,  # type: ignore[arg-type]
                                  transferred_size=f.transferred)
                   for f in pulled.files]))
        return
    for file in pulled.files:
        if file.linked != "hardlink":
            app.warn(f"warning: {file.path}: {file.linked} (the HF cache and the store are "
                     "on different file systems, so they do not share one file)")
    present = sum(1 for f in pulled.files if f.action == "present")
    app.echo(f"pulled {shown} ({created.manifest.digest.short}) from hf.co/{pulled.repo} "
             f"{pulled.selection.quant}: {human_bytes(pulled.transferred)} fetched, "
             f"{plural(present, 'file')} already in the store")


class _HubLines:
    """Hugging Face progress as one line per finished file: for logs and pipes."""

    def __init__(self, app: App) -> None:
        self.app = app

    def begin(self, label: str, total: int) -> None:
        pass

    def advance(self, label: str, count: int) -> None:
        pass

    def end(self, label: str, text: str) -> None:
        self.app.status(f"{label}: {text}")


class _HubBars:
    """One bar per Hugging Face file, in the CLI's one bar look."""

    def __init__(self, bar: RichProgress) -> None:
        self.bar = bar
        self.tasks: dict[str, TaskID] = {}

    def begin(self, label: str, total: int) -> None:
        if label not in self.tasks:
            self.tasks[label] = self.bar.add_task(label, total=total)

    def advance(self, label: str, count: int) -> None:
        self.bar.advance(self.tasks[label], count)

    def end(self, label: str, text: str) -> None:
        task = self.tasks[label]
        self.bar.update(task, description=f"{label} {text}",
                        completed=self.bar.tasks[task].total)
