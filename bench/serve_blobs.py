"""``lamina serve`` side by side with CNCF Distribution (Debian ``docker-registry``) in one run,
on loopback, with curl as the client. Each round alternates the servers' order and takes, from
each, a monolithic blob PUT (``POST``, then ``PUT ?digest=`` with the whole file, as curl and
lamina's client push) and a chunked push (``PATCH`` chunks with ``Content-Range``, then an
empty ``PUT ?digest=``); then rounds of blob GETs (warm page cache) — lamina under granian
(zero-copy ``pathsend``), the same app under uvicorn (streamed reads: why lamina uses
granian), and Distribution. Medians and ratios to Distribution are printed, with the CPU
seconds each server spent per PUT (a fairer view when the machine is shared) and the load
average.

Then 16 concurrent pulls of one blob from lamina: every copy checked, peak RSS of its processes.

    python bench/serve_blobs.py [--put-mib 2048] [--chunk-mib 512] [--get-mib 2048]
                                [--pull-mib 1024] [--rounds 3] [--pulls 16] [--put-only]

``--put-only`` times the monolithic PUTs alone (no chunked push, GETs or pulls), for quick
iterations on the upload path.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

MiB = 1024 * 1024
ROOT = Path(__file__).parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_file(path: Path, size: int) -> str:
    """``size`` pseudo-random bytes; returns their ``sha256:`` digest."""
    hasher = hashlib.sha256()
    block = os.urandom(8 * MiB)
    with path.open("wb") as out:
        left = size
        while left:
            piece = block[: min(len(block), left)]
            out.write(piece)
            hasher.update(piece)
            left -= len(piece)
    return f"sha256:{hasher.hexdigest()}"


@contextmanager
def process(command: list[str], url: str, env: dict[str, str] | None = None) -> Iterator[int]:
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=ROOT, env={**os.environ, **(env or {})})
    try:
        for _ in range(300):
            if subprocess.run(["curl", "-s", "-o", "/dev/null", f"{url}/v2/"],
                              check=False).returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"{command[0]} did not start")
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def distribution(tmp: Path, port: int) -> list[str]:
    binary = shutil.which("docker-registry") or shutil.which("registry")
    if binary is None:
        sys.exit("CNCF Distribution is not installed: apt-get install docker-registry")
    config = tmp / "distribution.yml"
    config.write_text(
        f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {tmp / 'distribution'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: bench\n")
    return [binary, "serve", str(config)]


def lamina(home: Path, port: int) -> list[str]:
    return [sys.executable, "-c", "import sys; from lamina.cli import main; sys.exit(main())",
            "--home", str(home), "serve", "--port", str(port), "-q"]


UVICORN = """
import sys, uvicorn
from pathlib import Path
from lamina import serving
from store import Store
app = serving.application(Store(Path(sys.argv[1])), serving.Options())
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def uvicorn(home: Path, port: int) -> list[str]:
    return [sys.executable, "-c", UVICORN, str(home), str(port)]


def curl(*args: str) -> str:
    done = subprocess.run(["curl", "-sS", "--fail", *args], capture_output=True, text=True,
                          check=True)
    return done.stdout


def start_upload(url: str) -> str:
    """POST for a session; its absolute Location."""
    headers = curl("-X", "POST", "-D", "-", "-o", "/dev/null",
                   f"{url}/v2/bench/blob/blobs/uploads/")
    return location(url, headers)


def location(url: str, headers: str) -> str:
    found = next(line.split(":", 1)[1].strip() for line in headers.splitlines()
                 if line.lower().startswith("location:"))
    return url + found if found.startswith("/") else found


def with_digest(location: str, digest: str) -> str:
    return f"{location}{'&' if '?' in location else '?'}digest={digest}"


def push(url: str, path: Path, digest: str) -> float:
    """POST for a session, then one PUT of the whole file; the seconds the PUT took."""
    upload = start_upload(url)
    start = time.perf_counter()
    curl("-X", "PUT", "-H", "Content-Type: application/octet-stream", "-T", str(path),
         "-o", "/dev/null", with_digest(upload, digest))
    return time.perf_counter() - start


def push_chunked(url: str, chunks: list[Path], digest: str) -> float:
    """POST for a session, a PATCH per chunk file, an empty PUT; the seconds after the POST."""
    upload = start_upload(url)
    start = time.perf_counter()
    offset = 0
    for chunk in chunks:
        size = chunk.stat().st_size
        headers = curl("-X", "PATCH", "-H", "Content-Type: application/octet-stream",
                       "-H", f"Content-Range: {offset}-{offset + size - 1}", "-T", str(chunk),
                       "-D", "-", "-o", "/dev/null", upload)
        upload, offset = location(url, headers), offset + size
    curl("-X", "PUT", "-o", "/dev/null", with_digest(upload, digest))
    return time.perf_counter() - start


def split(path: Path, size: int) -> list[Path]:
    """``path`` cut into files of ``size`` bytes (the last may be shorter)."""
    chunks: list[Path] = []
    with path.open("rb") as source:
        while piece := source.read(size):
            chunks.append(path.with_name(f"{path.name}.{len(chunks):03d}"))
            chunks[-1].write_bytes(piece)
    return chunks


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of ``pid`` and its children so far."""
    total = 0
    for each in tree(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    return [pid] + [int(p) for p in subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout.split()]


def get_rate(url: str, digest: str) -> float:
    """Bytes per second of one GET of the blob into /dev/null."""
    out = curl("-o", "/dev/null", "-w", "%{size_download} %{time_total}",
               f"{url}/v2/bench/blob/blobs/{digest}")
    size, seconds = out.split()
    return float(size) / float(seconds)


def rss_of_tree(pid: int) -> int:
    """Resident bytes of ``pid`` and its children, now."""
    total = 0
    for each in tree(pid):
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def concurrent_pulls(url: str, digest: str, pulls: int, pid: int) -> tuple[float, int, int]:
    """``pulls`` curls at once, each piped into sha256sum; (seconds, good copies, peak RSS)."""
    expected = digest.removeprefix("sha256:")
    command = f"curl -sS --fail {url}/v2/bench/blob/blobs/{digest} | sha256sum"
    start = time.perf_counter()
    procs = [subprocess.Popen(command, shell=True, stdout=subprocess.PIPE, text=True)
             for _ in range(pulls)]
    peak = 0
    while any(p.poll() is None for p in procs):
        peak = max(peak, rss_of_tree(pid))
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    good = sum(p.communicate()[0].split()[0] == expected for p in procs)
    return seconds, good, peak


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def alternate(rounds: int, tasks: dict[str, dict[str, Callable[[], float]]]
              ) -> dict[str, dict[str, list[float]]]:
    """``tasks[server][measure]``, every measure of one server after the other, the servers'
    order reversed each round; ``results[measure][server]`` lists the samples."""
    results: dict[str, dict[str, list[float]]] = {}
    for index in range(rounds):
        order = list(tasks) if index % 2 == 0 else list(reversed(tasks))
        for name in order:
            for measure, task in tasks[name].items():
                results.setdefault(measure, {}).setdefault(name, []).append(task())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--put-mib", type=int, default=2048)
    parser.add_argument("--chunk-mib", type=int, default=512)
    parser.add_argument("--get-mib", type=int, default=2048)
    parser.add_argument("--pull-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pulls", type=int, default=16)
    parser.add_argument("--put-only", action="store_true",
                        help="time the monolithic PUTs alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lamina-bench-") as name:
        run(Path(name), args)


def run(tmp: Path, args: argparse.Namespace) -> None:
    home = tmp / "home"
    ports = {"lamina": free_port(), "uvicorn": free_port(), "distribution": free_port()}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    put_file, get_file = tmp / "put.bin", tmp / "get.bin"
    put_digest = make_file(put_file, args.put_mib * MiB)
    chunks = [] if args.put_only else split(put_file, args.chunk_mib * MiB)
    get_digest = "" if args.put_only else make_file(get_file, args.get_mib * MiB)
    print(f"load average at start: {_load()}")
    with process(lamina(home, ports["lamina"]), urls["lamina"]) as lamina_pid, \
            process(distribution(tmp, ports["distribution"]), urls["distribution"]) as dist_pid:
        pids = {"lamina": lamina_pid, "distribution": dist_pid}
        cpu: dict[str, list[float]] = {name: [] for name in pids}

        def put(name: str) -> float:
            before = cpu_seconds(pids[name])
            seconds = push(urls[name], put_file, put_digest)
            cpu[name].append(cpu_seconds(pids[name]) - before)
            return seconds

        if args.put_only:
            results = alternate(args.rounds, {name: {
                "put": lambda name=name: put(name),  # type: ignore[misc]
            } for name in pids})
            put_file.unlink()
            print(f"\nblob PUT of {args.put_mib} MiB, monolithic (seconds; server CPU seconds)")
            ratio = _report(results["put"], lower_is_better=True, cpu=cpu)
            print(f"\nlamina vs distribution, medians of {args.rounds} alternating rounds: "
                  f"PUT {ratio:.2f}x (load average now: {_load()})")
            return
        for name in ("lamina", "distribution"):
            push(urls[name], get_file, get_digest)
        get_file.unlink()
        with process(uvicorn(home, ports["uvicorn"]), urls["uvicorn"]):
            for name in urls:
                get_rate(urls[name], get_digest)  # warm the page cache
            pushes: dict[str, dict[str, Callable[[], float]]] = {name: {
                "put": lambda name=name: put(name),  # type: ignore[misc]
                "chunked": lambda name=name: push_chunked(  # type: ignore[misc]
                    urls[name], chunks, put_digest),
            } for name in pids}
            results = alternate(args.rounds, pushes)
            # GETs after the pushes: the page cache Distribution's pushes leave dirty would
            # otherwise be flushed during whichever GET came next.
            results.update(alternate(args.rounds, {name: {
                "get": lambda name=name: get_rate(urls[name], get_digest) / 1e9,  # type: ignore[misc]
            } for name in urls}))
        for path in (put_file, *chunks):
            path.unlink()
        print(f"\nblob PUT of {args.put_mib} MiB, monolithic (seconds; server CPU seconds)")
        ratios = {"PUT": _report(results["put"], lower_is_better=True, cpu=cpu)}
        print(f"\nchunked push of {args.put_mib} MiB in {args.chunk_mib} MiB PATCHes (seconds)")
        ratios["chunked push"] = _report(results["chunked"], lower_is_better=True)
        print(f"\nblob GET of {args.get_mib} MiB with curl (GB/s)")
        ratios["GET"] = _report(results["get"], lower_is_better=False)
        print(f"\nlamina vs distribution, medians of {args.rounds} alternating rounds: "
              + ", ".join(f"{what} {ratio:.2f}x" for what, ratio in ratios.items())
              + f" (load average now: {_load()})")
        pulls(tmp, urls["lamina"], lamina_pid, args)


def pulls(tmp: Path, url: str, pid: int, args: argparse.Namespace) -> None:
    pull_file = tmp / "pull.bin"
    pull_digest = make_file(pull_file, args.pull_mib * MiB)
    push(url, pull_file, pull_digest)
    pull_file.unlink()
    get_rate(url, pull_digest)
    seconds, good, peak = concurrent_pulls(url, pull_digest, args.pulls, pid)
    print(f"\n{args.pulls} concurrent pulls of {args.pull_mib} MiB from lamina: "
          f"{good}/{args.pulls} correct in {seconds:.1f} s, "
          f"peak RSS {peak / MiB:.0f} MiB (server and worker)")


def _report(results: dict[str, list[float]], *, lower_is_better: bool,
            cpu: dict[str, list[float]] | None = None) -> float:
    """Print each server's median and samples; lamina's ratio to Distribution."""
    reference = median(results["distribution"])
    ratios = {}
    for name, samples in results.items():
        value = median(samples)
        ratios[name] = reference / value if lower_is_better else value / reference
        runs = ", ".join(f"{s:.2f}" for s in samples)
        spent = f"   cpu {median(cpu[name]):.1f}" if cpu else ""
        print(f"  {name:<13} {value:8.2f}   ({runs}){spent}   {ratios[name]:.2f}x distribution")
    return ratios["lamina"]


def _load() -> str:
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
