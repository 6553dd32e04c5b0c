"""``lamina serve`` side by side with CNCF Distribution (Debian ``docker-registry``) in one run,
on loopback, with curl as the client:

* blob GET throughput (warm page cache) of lamina under granian (zero-copy ``pathsend``), of the
  same app under uvicorn (streamed reads: why lamina uses granian), and of Distribution;
* blob PUT (one monolithic upload) to lamina and to Distribution;
* 16 concurrent pulls of one blob from lamina: every copy checked, peak RSS of its processes.

Rounds alternate between the servers; medians and ratios are printed.

    python bench/serve_blobs.py [--get-mib 2048] [--put-mib 2048] [--pull-mib 1024]
                                [--rounds 3] [--pulls 16]
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


def push(url: str, path: Path, digest: str) -> float:
    """POST for a session, then one PUT of the whole file; the seconds the PUT took."""
    headers = curl("-X", "POST", "-D", "-", "-o", "/dev/null",
                   f"{url}/v2/bench/blob/blobs/uploads/")
    location = next(line.split(":", 1)[1].strip() for line in headers.splitlines()
                    if line.lower().startswith("location:"))
    if location.startswith("/"):
        location = url + location
    joiner = "&" if "?" in location else "?"
    start = time.perf_counter()
    curl("-X", "PUT", "-H", "Content-Type: application/octet-stream", "-T", str(path),
         "-o", "/dev/null", f"{location}{joiner}digest={digest}")
    return time.perf_counter() - start


def get_rate(url: str, digest: str) -> float:
    """Bytes per second of one GET of the blob into /dev/null."""
    out = curl("-o", "/dev/null", "-w", "%{size_download} %{time_total}",
               f"{url}/v2/bench/blob/blobs/{digest}")
    size, seconds = out.split()
    return float(size) / float(seconds)


def rss_of_tree(pid: int) -> int:
    """Resident bytes of ``pid`` and its children, now."""
    total = 0
    pids = [pid] + [int(p) for p in subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout.split()]
    for each in pids:
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


def alternate(rounds: int, runs: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {name: [] for name in runs}
    for index in range(rounds):
        order = list(runs) if index % 2 == 0 else list(reversed(runs))
        for name in order:
            results[name].append(runs[name]())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--get-mib", type=int, default=2048)
    parser.add_argument("--put-mib", type=int, default=2048)
    parser.add_argument("--pull-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pulls", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lamina-bench-") as name:
        run(Path(name), args)


def run(tmp: Path, args: argparse.Namespace) -> None:
    home = tmp / "home"
    ports = {"lamina": free_port(), "uvicorn": free_port(), "distribution": free_port()}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    put_file, get_file = tmp / "put.bin", tmp / "get.bin"
    put_digest = make_file(put_file, args.put_mib * MiB)
    get_digest = make_file(get_file, args.get_mib * MiB)
    with process(lamina(home, ports["lamina"]), urls["lamina"]) as lamina_pid, \
            process(distribution(tmp, ports["distribution"]), urls["distribution"]):
        print(f"blob PUT of {args.put_mib} MiB, {args.rounds} rounds (seconds, median)")
        puts = alternate(args.rounds, {
            name: lambda name=name: push(urls[name], put_file, put_digest)  # type: ignore[misc]
            for name in ("lamina", "distribution")})
        _report(puts, "distribution", lower_is_better=True)
        for name in ("lamina", "distribution"):
            push(urls[name], get_file, get_digest)
        for path in (get_file, put_file):
            path.unlink()
        with process(uvicorn(home, ports["uvicorn"]), urls["uvicorn"]):
            for name in urls:
                get_rate(urls[name], get_digest)  # warm the page cache
            print(f"\nblob GET of {args.get_mib} MiB with curl, {args.rounds} rounds (GB/s)")
            gets = alternate(args.rounds, {
                name: lambda name=name: get_rate(urls[name], get_digest) / 1e9  # type: ignore[misc]
                for name in ("lamina", "uvicorn", "distribution")})
            _report(gets, "distribution", lower_is_better=False)
        pull_file = tmp / "pull.bin"
        pull_digest = make_file(pull_file, args.pull_mib * MiB)
        push(urls["lamina"], pull_file, pull_digest)
        pull_file.unlink()
        get_rate(urls["lamina"], pull_digest)
        seconds, good, peak = concurrent_pulls(urls["lamina"], pull_digest, args.pulls,
                                               lamina_pid)
        print(f"\n{args.pulls} concurrent pulls of {args.pull_mib} MiB from lamina: "
              f"{good}/{args.pulls} correct in {seconds:.1f} s, "
              f"peak RSS {peak / MiB:.0f} MiB (server and worker)")


def _report(results: dict[str, list[float]], base: str, *, lower_is_better: bool) -> None:
    reference = median(results[base])
    for name, samples in results.items():
        value = median(samples)
        ratio = reference / value if lower_is_better else value / reference
        runs = ", ".join(f"{s:.2f}" for s in samples)
        print(f"  {name:<13} {value:8.2f}   ({runs})   {ratio:.2f}x distribution")


if __name__ == "__main__":
    main()
