"""``lamina serve``: the store as an OCI registry (pull and push with lamina, Ollama, skopeo,
oras, Docker's tools)."""

from __future__ import annotations

from pathlib import Path

import click

from ..app import App, pass_app
from ..options import InputPath, json_option, quiet_option

_FILE = InputPath(dir_okay=False, path_type=Path)


def _public_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """scheme://host[:port] and nothing more: Locations (and an upstream's ``/v2/…`` paths)
    are built by appending paths to it."""
    if value is None:
        return None
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises for a port that is not a number)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname \
            or parts.path.strip("/") or parts.query or parts.fragment:
        raise click.BadParameter(f"{value!r} is not scheme://host[:port], "
                                 "e.g. https://registry.ollama.ai")
    return value.rstrip("/")


def _host_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A host name alone: the redirect keeps the request's port and scheme."""
    from registry.reference import is_host

    if value is not None and (not is_host(value) or value.rsplit("]", 1)[-1].count(":")):
        raise click.BadParameter(f"{value!r} is not a host name (no scheme, port or path), "
                                 "e.g. blobs.registry.example")
    return value


def _mirror_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An upstream registry's scheme://host[:port]; its credentials come from ``lamina login``,
    never from the URL."""
    url = _public_url(ctx, param, value)
    if url is None:
        return None
    from urllib.parse import urlsplit

    from registry.reference import InvalidReference, Reference

    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise click.BadParameter("give no credentials in the URL; run `lamina login HOST` "
                                 "for the upstream instead")
    try:
        Reference(parts.netloc.lower(), "library/mirror", "latest")
    except InvalidReference:
        raise click.BadParameter(f"{parts.netloc!r} is not a host name[:port]") from None
    return url


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 for every interface).")
@click.option("--port", type=click.IntRange(0, 65535), default=5000, show_default=True)
@click.option("--auth", type=click.Choice(["none", "htpasswd"]), default="none",
              show_default=True,
              help="none: anyone may pull and push. htpasswd: Basic and Bearer sign-in "
                   "checked against --htpasswd FILE.")
@click.option("--htpasswd", type=_FILE, help="user:bcrypt-hash lines (htpasswd -B).")
@click.option("--authorized-keys", type=_FILE,
              help="ssh-ed25519 public keys (~/.ollama/id_ed25519.pub) whose Ollama may sign "
                   "in; turns auth on.")
@click.option("--access", type=_FILE,
              help="Rules 'PATTERN PULL PUSH' per repository (see the README).")
@click.option("--anonymous-pull/--no-anonymous-pull", default=False, show_default=True,
              help="With auth on, let anyone pull; pushing still needs signing in.")
@click.option("--tls-cert", type=_FILE, help="PEM certificate: serve HTTPS.")
@click.option("--tls-key", type=_FILE, help="PEM private key of --tls-cert.")
@click.option("--public-url", callback=_public_url,
              help="scheme://host[:port] clients reach this server at, for absolute "
                   "Locations (default: what each client used).")
@click.option("--redirect-host", callback=_host_name,
              help="Send blob GETs to this host name (same port) with a signed 307.")
@click.option("--mirror", metavar="URL", callback=_mirror_url,
              help="Pull-through mirror of this registry (e.g. https://registry.ollama.ai): "
                   "what the store lacks is fetched from it once, then served locally.")
@click.option("--mirror-ttl", metavar="SECONDS", type=click.FloatRange(min=0), default=300.0,
              show_default=True,
              help="How long a tag fetched from --mirror is served before asking it again "
                   "(0: on every pull).")
@json_option
@quiet_option
@pass_app
def serve(app: App, host: str, port: int, auth: str, htpasswd: Path | None,
          authorized_keys: Path | None, access: Path | None, anonymous_pull: bool,
          tls_cert: Path | None, tls_key: Path | None, public_url: str | None,
          redirect_host: str | None, mirror: str | None, mirror_ttl: float, as_json: bool,
          quiet: bool) -> None:
    """Serve the store as an OCI registry until Ctrl-C."""
    if auth == "htpasswd" and htpasswd is None:
        raise click.UsageError("--auth htpasswd needs --htpasswd FILE")
    if auth == "none" and htpasswd is not None:
        raise click.UsageError("--htpasswd needs --auth htpasswd")
    if access is not None and htpasswd is None and authorized_keys is None:
        raise click.UsageError("--access needs sign-in: --auth htpasswd or --authorized-keys")
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    source = click.get_current_context().get_parameter_source("mirror_ttl")
    if mirror is None and source is click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("--mirror-ttl needs --mirror URL")
    from .. import serving

    settings = serving.Options(host=host, port=port, htpasswd=htpasswd,
                               authorized_keys=authorized_keys, access=access,
                               anonymous_pull=anonymous_pull, tls=tls_cert is not None,
                               public_url=public_url, redirect_host=redirect_host,
                               mirror=mirror, mirror_ttl=mirror_ttl)
    from registry.server.run import check_free
    from registry.server.run import serve as run

    application = serving.application(app.store(), settings)
    check_free(host, port)
    url = settings.url()
    if as_json:
        from .. import schema

        app.emit(schema.ServeOutput(url=url, auth=settings.auth_mode(),
                                    store=str(app.store().root), mirror=mirror))
    elif not quiet:
        mirroring = f"; mirror of {mirror}" if mirror else ""
        app.status(f"lamina registry at {url} (auth: {settings.auth_mode()}{mirroring}); "
                   "Ctrl-C stops")
    run(application, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key,
        access_log=not (quiet or as_json), quiet=quiet or as_json)
