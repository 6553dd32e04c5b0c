"""Where the CPU of a pull goes: per thread of ``lamina pull``, and the registry's, on Linux.

The pull target (issue 8: pull ÷ max(curl GET, openssl sha256) ≤ 1.15) is bound by SHA-256,
which runs on one thread. This prints, for each round of a pull from a local CNCF Distribution,
the hasher's time on a CPU, the time it was ready to run but waited for one (preempted), and
how often it was switched out, beside the CPU every other thread and the registry used, and
the time hashlib alone takes over the same number of bytes in memory. When the hasher never
waits for bytes (few voluntary switches) the pull can only get faster by leaving it a core:
less CPU elsewhere, or less of it on the hasher's core.

Figures come from the kernel: ``/proc/PID/task/TID/schedstat`` (on-CPU and run-queue time)
and ``status`` (voluntary and involuntary switches), read every few milliseconds while the
pull runs, the last reading kept. Reading them costs the pull a little; the timed ratios are
bench/transfer.py's.

    python bench/pull_schedule.py [--size 1G] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import mmap
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from transfer import (  # noqa: E402
    as_installed,
    make_model,
    parse_size,
    pull_command,
    run_child,
    settle,
    with_registry,
)

TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class ThreadTimes:
    """One thread's counts, as the kernel kept them."""

    cpu: float  # seconds on a CPU
    waiting: float  # seconds ready to run, on a run queue
    voluntary: int  # switches out because it blocked
    involuntary: int  # switches out because something else got the CPU


def thread_times(task: Path) -> ThreadTimes | None:
    try:
        on_cpu, waiting, _ = (task / "schedstat").read_text().split()
        counts = {k: int(v) for k, v in (line.split(":") for line in
                  (task / "status").read_text().splitlines() if "ctxt_switches" in line)}
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None  # the thread ended between the listing and the read
    return ThreadTimes(int(on_cpu) / 1e9, int(waiting) / 1e9,
                       counts.get("voluntary_ctxt_switches", 0),
                       counts.get("nonvoluntary_ctxt_switches", 0))


def process_cpu(pid: int) -> float:
    """User and system seconds of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def watched_pull(reference: str, home: Path, registry_pid: int
                 ) -> tuple[float, float, dict[int, ThreadTimes]]:
    """Wall seconds, the registry's CPU seconds, and each thread's last counts."""
    command, env = pull_command(reference, home)
    settle()
    before = process_cpu(registry_pid)
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    threads: dict[int, ThreadTimes] = {}
    while process.poll() is None:
        for task in Path(f"/proc/{process.pid}/task").glob("*"):
            times = thread_times(task)
            if times is not None:
                threads[int(task.name)] = times
        time.sleep(0.005)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"lamina pull failed ({process.returncode})")
    return wall, process_cpu(registry_pid) - before, threads


def hashlib_alone(size: int) -> float:
    """Seconds hashlib takes over ``size`` bytes already in memory, 8 MiB at a time."""
    block = mmap.mmap(-1, 8 << 20)
    block.write(os.urandom(len(block)))
    digest = hashlib.sha256()
    start = time.perf_counter()
    with memoryview(block) as view:
        for offset in range(0, size, len(block)):
            digest.update(view[:min(len(block), size - offset)])
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=parse_size("1G"))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not Path("/proc/self/task").is_dir() or not Path("/proc/self/schedstat").exists():
        print("needs Linux's /proc with schedstat: nothing measured")
        return 0

    return with_registry(
        lambda folder, registry: rounds(args, folder, registry.host, registry.process.pid))


def rounds(args: argparse.Namespace, folder: Path, host: str, registry_pid: int) -> int:
    as_installed()
    manifest, _ = make_model(folder, args.size, b"be brief")
    run_child("--child", "push", "--reference", f"{host}/bench/schedule:v1",
              "--files", str(folder / "files.json"), "--manifest", str(manifest))
    alone = statistics.median(hashlib_alone(args.size) for _ in range(3))
    print(f"hashlib alone over {args.size / 1e9:.2f} GB in memory: {alone:.2f} s")
    for round_ in range(args.rounds):
        wall, registry_cpu, threads = watched_pull(f"{host}/bench/schedule:v1",
                                                   folder / f"store{round_}", registry_pid)
        hasher_id = max(threads, key=lambda tid: threads[tid].cpu)
        hasher = threads.pop(hasher_id)
        others = sum(t.cpu for t in threads.values())
        print(f"round {round_}: wall {wall:.2f} s; hasher on a CPU {hasher.cpu:.2f} s, "
              f"waiting for one {hasher.waiting:.2f} s, switched out {hasher.voluntary} times "
              f"blocked and {hasher.involuntary} times preempted; other lamina threads "
              f"{others:.2f} s of CPU; registry {registry_cpu:.2f} s of CPU; "
              f"{(hasher.cpu + others + registry_cpu) / wall:.2f} cores busy of "
              f"{os.cpu_count()}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
