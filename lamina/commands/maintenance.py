"""Store upkeep: gc, du, verify."""

from __future__ import annotations

import math

import click

from ..app import App, pass_app
from ..options import json_option, quiet_option
from ..output import human_bytes, human_duration, plural


class Seconds(click.ParamType[float]):
    """A duration in seconds: a finite number, zero or more."""

    name = "seconds"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        try:
            seconds = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or seconds < 0:
            self.fail(f"{value!r} is not a finite number of seconds, zero or more", param, ctx)
        return seconds


@click.command()
@click.option("--dry-run", is_flag=True, help="Only say what would be deleted.")
@click.option("--grace", type=Seconds(), default=None,
              help="Seconds a file must be untouched before gc may delete it [default: 3600].")
@json_option
@pass_app
def gc(app: App, dry_run: bool, grace: float | None, as_json: bool) -> None:
    """Delete blobs no model uses and temp files left by interrupted writes."""
    import store

    grace = store.GRACE_SECONDS if grace is None else grace
    report = store.gc(app.store(), dry_run=dry_run, grace=grace)
    if as_json:
        from .. import schema

        app.emit(schema.GcOutput(
            dry_run=dry_run, grace_seconds=grace,
            deleted_blobs=[schema.Blob(digest=str(d), size=s) for d, s in report.blobs],
            deleted_temp_files=[schema.TempFile(path=str(p), size=s) for p, s in report.temps],
            freed_size=report.freed,
            kept_blobs=[schema.Blob(digest=str(d), size=s) for d, s in report.kept],
        ))
        return
    verb = "would delete" if dry_run else "deleted"
    for digest, size in report.blobs:
        app.echo(f"{verb} blob {digest} ({human_bytes(size)})")
    for path, size in report.temps:
        app.echo(f"{verb} temp file {path.name} ({human_bytes(size)})")
    app.echo(f"{verb} {plural(len(report.blobs), 'blob')} and "
             f"{plural(len(report.temps), 'temp file')}, {human_bytes(report.freed)}")
    if report.kept:
        kept = sum(size for _, size in report.kept)
        app.echo(f"kept {plural(len(report.kept), 'unused blob')} ({human_bytes(kept)}) younger "
                 f"than {human_duration(grace)}; --grace 0 deletes them too")


@click.command()
@json_option
@pass_app
def du(app: App, as_json: bool) -> None:
    """Disk use: logical bytes, bytes on disk, and what dedupe saved."""
    import store

    usage = store.du(app.store())
    if as_json:
        from .. import schema

        app.emit(schema.DuOutput(
            models=usage.models, logical_size=usage.logical, stored_size=usage.stored,
            on_disk_size=usage.on_disk, saved_by_dedupe_size=usage.saved_by_dedupe,
            shared_with_sources_size=usage.shared_with_sources,
            unreferenced_size=usage.unreferenced, partial_size=usage.partial,
            upload_size=usage.uploads, temp_size=usage.temps,
            damaged_manifests=usage.damaged, held_by_damaged_size=usage.held_by_damaged,
        ))
        return
    rows: list[tuple[str, str]] = [
        ("models", str(usage.models)),
        ("logical", human_bytes(usage.logical)),
        ("stored", human_bytes(usage.stored)),
        ("on disk", human_bytes(usage.on_disk)),
        ("saved by dedupe", human_bytes(usage.saved_by_dedupe)),
        ("linked to sources", human_bytes(usage.shared_with_sources)),
        ("unreferenced", human_bytes(usage.unreferenced)),
        ("partial pulls", human_bytes(usage.partial)),
        ("uploads", human_bytes(usage.uploads)),
        ("temp files", human_bytes(usage.temps)),
    ]
    if usage.damaged:
        rows += [
            ("damaged manifests", str(usage.damaged)),
            ("held by damaged", human_bytes(usage.held_by_damaged)),
        ]
    for label, value in rows:
        app.echo(f"{label:<18}{value}")


@click.command()
@json_option
@quiet_option
@pass_app
def verify(app: App, as_json: bool, quiet: bool) -> None:
    """Re-hash every blob; report corrupt and missing ones. Exit 1 if any."""
    import store

    app.quiet = quiet
    the_store = app.store()
    with app.progress("verifying", store.total_blob_bytes(the_store)) as progress:
        report = store.verify(the_store, progress=progress)
    if as_json:
        from .. import schema

        app.emit(schema.VerifyOutput(
            ok=report.ok, checked=report.checked,
            corrupt=[schema.CorruptBlob(digest=str(d), actual_digest=a) for d, a in report.corrupt],
            missing=[schema.MissingBlob(digest=str(d), model=m) for d, m in report.missing],
            damaged_manifests=list(report.damaged_manifests),
        ))
    else:
        for digest, actual in report.corrupt:
            app.echo(f"corrupt blob {digest}: its contents hash to {actual}")
        for digest, model in report.missing:
            app.echo(f"missing blob {digest} (needed by {model})")
        for text in report.damaged_manifests:
            app.echo(f"damaged manifest {text}")
        state = "ok" if report.ok else "PROBLEMS FOUND"
        app.echo(f"{plural(report.checked, 'blob')} checked: {state}")
    if not report.ok:
        raise SystemExit(1)
