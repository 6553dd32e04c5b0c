"""Store upkeep: gc, du, verify."""

from __future__ import annotations

import click

import store

from ..app import App, pass_app
from ..output import human_bytes


@click.command()
@click.option("--dry-run", is_flag=True, help="Only say what would be deleted.")
@click.option("--grace", type=float, default=store.GRACE_SECONDS, show_default=True,
              help="Seconds a file must be untouched before gc may delete it.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def gc(app: App, dry_run: bool, grace: float, as_json: bool) -> None:
    """Delete blobs no model uses and temp files left by interrupted writes."""
    report = store.gc(app.store(), dry_run=dry_run, grace=grace)
    if as_json:
        app.json({
            "dry_run": dry_run,
            "blobs": [{"digest": str(d), "size": s} for d, s in report.blobs],
            "temp_files": [{"path": str(p), "size": s} for p, s in report.temps],
            "freed_bytes": report.freed,
        })
        return
    verb = "would delete" if dry_run else "deleted"
    for digest, size in report.blobs:
        app.echo(f"{verb} blob {digest} ({human_bytes(size)})")
    for path, size in report.temps:
        app.echo(f"{verb} temp file {path.name} ({human_bytes(size)})")
    app.echo(f"{verb} {len(report.blobs)} blobs and {len(report.temps)} temp files, "
             f"{human_bytes(report.freed)}")


@click.command()
@click.option("--json", "as_json", is_flag=True)
@pass_app
def du(app: App, as_json: bool) -> None:
    """Disk use: logical bytes, bytes on disk, and what dedupe saved."""
    usage = store.du(app.store())
    if as_json:
        app.json(usage.to_json())
        return
    rows = (
        ("models", str(usage.models)),
        ("logical", human_bytes(usage.logical)),
        ("stored", human_bytes(usage.stored)),
        ("on disk", human_bytes(usage.on_disk)),
        ("saved by dedupe", human_bytes(usage.saved_by_dedupe)),
        ("linked to sources", human_bytes(usage.shared_with_sources)),
        ("unreferenced", human_bytes(usage.unreferenced)),
    )
    for label, value in rows:
        app.echo(f"{label:<18}{value}")


@click.command()
@click.option("--json", "as_json", is_flag=True)
@pass_app
def verify(app: App, as_json: bool) -> None:
    """Re-hash every blob; report corrupt and missing ones. Exit 1 if any."""
    the_store = app.store()
    with app.progress("verifying", store.total_blob_bytes(the_store)) as progress:
        report = store.verify(the_store, progress=progress)
    if as_json:
        app.json({
            "ok": report.ok,
            "checked": report.checked,
            "corrupt": [{"digest": str(d), "problem": p} for d, p in report.corrupt],
            "missing": [{"digest": str(d), "model": m} for d, m in report.missing],
            "damaged_manifests": list(report.damaged_manifests),
        })
    else:
        for digest, problem in report.corrupt:
            app.echo(f"corrupt blob {digest}: {problem}")
        for digest, model in report.missing:
            app.echo(f"missing blob {digest} (needed by {model})")
        for text in report.damaged_manifests:
            app.echo(f"damaged manifest {text}")
        state = "ok" if report.ok else "PROBLEMS FOUND"
        app.echo(f"{report.checked} blobs checked: {state}")
    if not report.ok:
        raise SystemExit(1)
