"""Pulls through ``lamina serve --mirror`` beside a pull straight from its upstream, a local CNCF
Distribution: the first (cold) pull through a fresh mirror, which fetches from the upstream,
stores and then serves, and a second (warm) pull, served from the mirror's store alone.

Each round pulls direct, cold and warm, one after the other, into fresh stores, so the three see
the same machine load; medians and ratios are printed. Needs the docker-registry binary (make
test installs it).

    python bench/serve_mirror.py [--size 512M] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import transfer  # noqa: E402  (the sibling benchmark: its model maker and child processes)

LAMINA = [sys.executable, "-c", "import sys; from lamina.cli import main; sys.exit(main())"]


def pull(host: str, store: Path) -> float:
    seconds, _, _ = transfer.run_child("--child", "pull", "--reference",
                                       f"{host}/bench/model:v1", "--store", str(store))
    subprocess.run(["rm", "-rf", str(store)], check=True)
    return seconds


def bench(args: argparse.Namespace, folder: Path, upstream: str) -> None:
    from tests.registry.server.live import free_port, running

    manifest, _ = transfer.make_model(folder, args.size, b"be brief")
    transfer.run_child("--child", "push", "--reference", f"{upstream}/bench/model:v1",
                       "--files", str(folder / "files.json"), "--manifest", str(manifest))
    times: dict[str, list[float]] = {"direct": [], "cold": [], "warm": []}
    for round_ in range(args.rounds):
        times["direct"].append(pull(upstream, folder / "direct"))
        port = free_port()
        home = folder / f"mirror{round_}"
        command = [*LAMINA, "--home", str(home), "serve", "--port", str(port), "-q",
                   "--mirror", f"http://{upstream}"]
        with running(command, port) as url:
            mirror = url.removeprefix("http://")
            times["cold"].append(pull(mirror, folder / "cold"))
            times["warm"].append(pull(mirror, folder / "warm"))
        subprocess.run(["rm", "-rf", str(home)], check=True)
    median = {key: statistics.median(values) for key, values in times.items()}
    gb = args.size / 1e9
    for key, value in median.items():
        print(f"{key:>6}: {value:7.2f} s  ({gb / value:5.2f} GB/s)")
    print(f"cold through the mirror ÷ direct = {median['cold'] / median['direct']:.2f}")
    print(f"warm through the mirror ÷ direct = {median['warm'] / median['direct']:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=transfer.parse_size, default=transfer.parse_size("512M"))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from tests.registry.distribution import start_registry

    with tempfile.TemporaryDirectory(prefix="lamina-bench-") as tmp:
        folder = Path(tmp)
        (folder / "registry").mkdir()
        registry = start_registry(folder / "registry")
        try:
            bench(args, folder, registry.host)
        finally:
            registry.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
