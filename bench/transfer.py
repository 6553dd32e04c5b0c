"""Push and pull against a local CNCF Distribution, against curl and openssl on the same blob.

Rounds alternate the tools so that each sees the same machine load; medians and ratios are
printed. Targets (issue 8):

- pull ÷ max(curl GET, openssl sha256)  ≤ 1.15      - push ÷ curl PUT  ≤ 1.15
- variant push (only SYSTEM changed): bytes sent ≤ new layers + 2 KB
- peak RSS of a pull and of a push  ≤ 150 MB
- a pull killed at 50 % and rerun transfers ≤ 55 % of the blob in the second run

A pull is the real ``lamina pull NAME --json`` command into a fresh store (LAMINA_HOME), start-up
included; a push runs the client in a child process. Each child's peak RSS is the kernel's
count for that process (``ru_maxrss`` from wait4, the VmHWM it had when it ended), not an
estimate. Needs the docker-registry binary (make test installs it), curl and openssl, and
free disk for two copies of the blob per round (every round's files stay until the end).

    python bench/transfer.py [--size 2G] [--rounds 3] [--pull-only]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from tests.registry.distribution import Registry

MiB = 1024 * 1024


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().removesuffix("B")
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


# ---- child processes: one transfer each, results as JSON on stdout ---------------------------


class FileBlobs:
    """A BlobSource of files named by digest (the bench's source of pushes)."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def stat(self, digest: object) -> int:
        return self.files[str(digest)].stat().st_size

    def open(self, digest: object):  # type: ignore[no-untyped-def]
        return self.files[str(digest)].open("rb")


def child(args: argparse.Namespace) -> None:
    from registry.client import Puller, Pusher, connect
    from registry.reference import Reference

    reference = Reference.parse(args.reference)
    with connect(reference) as transport:
        if args.child == "pull":
            from store import Store

            store = Store(Path(args.store))
            result = Puller(transport, store.blobs).pull(reference)
            out = {"transferred": result.transferred,
                   "blobs": {str(b.digest): b.transferred for b in result.blobs}}
        else:
            files = json.loads(Path(args.files).read_text())
            source = FileBlobs({k: Path(v) for k, v in files.items()})
            manifest = Path(args.manifest).read_bytes()
            pushed = Pusher(transport, source).push(
                reference, manifest, "application/vnd.docker.distribution.manifest.v2+json")
            new = sum(b.size for b in pushed.blobs if b.action == "sent")
            out = {"transferred": pushed.transferred, "new": new}
    print(json.dumps(out))


def as_installed() -> None:
    """Byte-compile lamina's packages, as installing them would: with PYTHONDONTWRITEBYTECODE
    set (as on the machines here) an editable checkout would otherwise compile its modules
    from source in every timed run (about 25 ms of each pull)."""
    import compileall

    for package in ("lamina", "modelfile", "ocitypes", "registry", "store"):
        compileall.compile_dir(ROOT / package, quiet=1)


def settle() -> None:
    """Let the writeback of what came before (a push into the registry, a round's files) end
    first, so that no timed run shares the disk with it."""
    os.sync()


def run_child(*argv: str, command: list[str] | None = None,
              env: dict[str, str] | None = None) -> tuple[float, int, dict[str, object]]:
    """Seconds, peak RSS in bytes, and the child's JSON (this script's child mode, or
    ``command``)."""
    settle()
    start = time.perf_counter()
    process = subprocess.Popen(command or [sys.executable, __file__, *argv],
                               stdout=subprocess.PIPE, env=env)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"child {argv[:2]} failed ({process.returncode})")
    return elapsed, usage.ru_maxrss * 1024, json.loads(output or b"{}")


def pull_command(reference: str, home: Path) -> tuple[list[str], dict[str, str]]:
    """The ``lamina pull`` command line, and its environment, for a fresh store at ``home``."""
    lamina = str(Path(sys.executable).parent / "lamina")
    return [lamina, "pull", reference, "--json"], {**os.environ, "LAMINA_HOME": str(home)}


def lamina_pull(reference: str, home: Path) -> tuple[float, int]:
    """Seconds and peak RSS of ``lamina pull`` into a fresh store at ``home``."""
    command, env = pull_command(reference, home)
    seconds, peak, _ = run_child(command=command, env=env)
    return seconds, peak


def curl_to_disk(url: str, path: Path) -> float:
    """Seconds for curl to write the blob into a file and make it durable, as a pull does."""
    return timed(["sh", "-c", 'curl -sf -o "$1" "$2" && sync -d "$1"', "sh", str(path), url])


def timed(argv: list[str]) -> float:
    settle()
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


# ---- the benchmark ---------------------------------------------------------------------------


def make_model(folder: Path, size: int, system: bytes) -> tuple[Path, dict[str, str]]:
    """A weights file of ``size`` random bytes (written once), a system layer and a config."""
    from ocitypes import Descriptor, Digest, Manifest, mediatypes

    weights = folder / "weights.bin"
    if not weights.exists():
        with weights.open("wb") as out:
            left = size
            while left:
                chunk = os.urandom(min(left, 16 * MiB))
                out.write(chunk)
                left -= len(chunk)
    import hashlib

    with weights.open("rb") as handle:
        weights_digest = Digest(hashlib.file_digest(handle, "sha256").hexdigest())
    files = {str(weights_digest): str(weights)}
    layers = [Descriptor(mediatypes.MODEL, weights_digest, size)]
    for data, kind in ((system, mediatypes.SYSTEM), (b'{"model_format":"gguf"}', "config")):
        path = folder / f"blob-{Digest.of(data).short}"
        path.write_bytes(data)
        files[str(Digest.of(data))] = str(path)
        if kind != "config":
            layers.append(Descriptor(kind, Digest.of(data), len(data)))
        else:
            config = Descriptor(mediatypes.CONFIG, Digest.of(data), len(data))
    manifest = folder / f"manifest-{Digest.of(system).short}.json"
    manifest.write_bytes(Manifest(config, tuple(layers)).encode())
    (folder / "files.json").write_text(json.dumps(files))
    return manifest, files


def curl_put(host: str, repository: str, path: Path, digest: str) -> float:
    import http.client

    connection = http.client.HTTPConnection(host)
    connection.request("POST", f"/v2/{repository}/blobs/uploads/")
    response = connection.getresponse()
    response.read()
    location = response.getheader("Location", "")
    connection.close()
    separator = "&" if "?" in location else "?"
    return timed(["curl", "-sf", "-T", str(path), "-H", "Content-Type: application/octet-stream",
                  f"{location}{separator}digest={digest}"])


def delete_blob(host: str, repository: str, digest: str) -> None:
    import http.client

    connection = http.client.HTTPConnection(host)
    connection.request("DELETE", f"/v2/{repository}/blobs/{digest}")
    connection.getresponse().read()
    connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=parse_size("2G"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pull-only", action="store_true",
                        help="push once, then time pulls against curl and openssl only")
    parser.add_argument("--child", choices=("pull", "push"))
    parser.add_argument("--reference")
    parser.add_argument("--store")
    parser.add_argument("--files")
    parser.add_argument("--manifest")
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0

    return with_registry(lambda folder, registry: bench(args, folder, registry.host))


def with_registry(run: Callable[[Path, Registry], int]) -> int:
    """``run`` in a temporary folder, with a local Distribution storing under it."""
    from tests.registry.distribution import start_registry

    with tempfile.TemporaryDirectory(prefix="lamina-bench-") as tmp:
        folder = Path(tmp)
        (folder / "registry").mkdir()
        registry = start_registry(folder / "registry")
        try:
            return run(folder, registry)
        finally:
            registry.stop()


def bench(args: argparse.Namespace, folder: Path, host: str) -> int:
    as_installed()
    size = args.size
    manifest, files = make_model(folder, size, b"be brief")
    weights_digest, weights = next((d, Path(p)) for d, p in files.items()
                                   if Path(p).name == "weights.bin")
    files_json = str(folder / "files.json")
    times: dict[str, list[float]] = {k: [] for k in ("push", "curl_put", "pull", "curl_get",
                                                     "sha256", "curl_disk")}
    rss: dict[str, list[int]] = {"push": [], "pull": []}
    ratios: list[float] = []
    for round_ in range(args.rounds):
        repo = "bench/r0" if args.pull_only else f"bench/r{round_}"
        if round_ == 0 or not args.pull_only:
            curl = curl_put(host, f"bench/curl{round_}", weights, weights_digest)
            delete_blob(host, f"bench/curl{round_}", weights_digest)
            seconds, peak, _ = run_child("--child", "push", "--reference", f"{host}/{repo}:v1",
                                         "--files", files_json, "--manifest", str(manifest))
            times["curl_put"].append(curl)
            times["push"].append(seconds)
            rss["push"].append(peak)
        blob_url = f"http://{host}/v2/{repo}/blobs/{weights_digest}"
        # Each run writes files of its own, deleted only when the rounds are over, so that no
        # timed run shares the disk with freeing an earlier one's blocks (discarded online
        # where the file system is mounted with ``discard``). The pull comes after the two
        # runs that write nothing: straight after 2 GiB written through the page cache, the
        # disk here took direct writes more slowly for a few seconds, even after a sync.
        times["curl_disk"].append(curl_to_disk(blob_url, folder / f"curl{round_}.out"))
        curl = timed(["curl", "-sf", "-o", "/dev/null", blob_url])
        sha = timed(["openssl", "sha256", str(weights)])
        store = folder / f"store{round_}"
        seconds, peak = lamina_pull(f"{host}/{repo}:v1", store)
        times["curl_get"].append(curl)
        times["sha256"].append(sha)
        times["pull"].append(seconds)
        rss["pull"].append(peak)
        ratios.append(seconds / max(curl, sha))
        print(f"round {round_}: pull {seconds:.2f} s, curl GET {curl:.2f} s, sha256 {sha:.2f} s"
              f" → {ratios[-1]:.2f}; pull RSS {peak / MiB:.0f} MiB", flush=True)
        if round_ < args.rounds - 1 and not args.pull_only:
            delete_blob(host, repo, weights_digest)

    median = {k: statistics.median(v) for k, v in times.items()}
    gb = size / 1e9
    for key, value in median.items():
        print(f"{key:>9}: {value:7.2f} s  ({gb / value:5.2f} GB/s)")
    pull_ratio = median["pull"] / max(median["curl_get"], median["sha256"])
    print(f"pull ÷ max(curl GET, openssl sha256) = {pull_ratio:.2f} of the medians, "
          f"{statistics.median(ratios):.2f} median of the rounds  (target ≤ 1.15)")
    durable = median["pull"] / max(median["curl_disk"], median["sha256"])
    print(f"pull ÷ max(curl GET into a file + fdatasync, openssl sha256) = {durable:.2f}  "
          "(the same work a pull must do: its bytes on disk before it reports them)")
    print(f"peak RSS of lamina pull: median {statistics.median(rss['pull']) / MiB:.0f} MiB, "
          f"most {max(rss['pull']) / MiB:.0f} MiB  (target ≤ 150)")
    push_ratio = median["push"] / median["curl_put"]
    print(f"push ÷ curl PUT                      = {push_ratio:.2f}  (target ≤ 1.15)")
    print(f"peak RSS of push: most {max(rss['push']) / MiB:.0f} MiB  (target ≤ 150)")
    if args.pull_only:
        return 0

    variant, _ = make_model(folder, size, b"a different system prompt for the variant")
    # Only the last round's repository still holds the weights: earlier rounds deleted theirs.
    _, _, pushed = run_child("--child", "push", "--reference", f"{host}/{repo}:variant",
                             "--files", files_json, "--manifest", str(variant))
    sent, new = int(pushed["transferred"]), int(pushed["new"])  # type: ignore[call-overload]
    print(f"variant push: {sent} bytes sent, new layers {new} bytes, overhead {sent - new} "
          "(target ≤ 2048)")

    resume_ratio = killed_pull(folder, host, f"{repo}:v1", size, weights_digest)
    print(f"pull killed at 50 %, rerun transfers {resume_ratio:.0%} of the blob (target ≤ 55 %)")
    return 0


def killed_pull(folder: Path, host: str, name: str, size: int, digest: str) -> float:
    store = folder / "killed"
    argv = [sys.executable, __file__, "--child", "pull", "--reference", f"{host}/{name}",
            "--store", str(store)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    record = store / ".lamina" / "partial" / f"sha256-{digest.split(':')[1]}.ranges"
    killed = False
    while process.poll() is None:
        if recorded(record) >= size // 2:
            os.kill(process.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.01)
    process.wait()
    if not killed:
        raise SystemExit("the pull ended before it could be killed at 50 %: use a larger --size")
    _, _, result = run_child("--child", "pull", "--reference", f"{host}/{name}",
                             "--store", str(store))
    return int(result["blobs"][digest]) / size  # type: ignore[index]


def recorded(record: Path) -> int:
    """Bytes the partial blob's record names as finished."""
    try:
        lines = record.read_text().splitlines()[1:]
    except (FileNotFoundError, IndexError):
        return 0
    total = 0
    for line in lines:
        fields = line.split()
        if len(fields) == 2 and all(f.isdigit() for f in fields):
            total += int(fields[1]) - int(fields[0])
    return total


if __name__ == "__main__":
    raise SystemExit(main())
