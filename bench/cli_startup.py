"""How long lamina takes to answer, against a bare interpreter start (`python -c pass`).

Each round runs the bare interpreter, then each lamina command, alternating, so that both see
the same machine load; the medians, their difference and their ratio are printed. Target:
`--help`, `--version`, `list` and `show` within 0.10 s of the bare interpreter.

    python bench/cli_startup.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 0.10  # seconds over a bare interpreter start
LAMINA = shutil.which("lamina", path=str(Path(sys.executable).parent)) or "lamina"


def tiny_gguf() -> bytes:
    """A valid 68-byte GGUF: version 3, no tensors, general.architecture = "test"."""
    key, value = b"general.architecture", b"test"
    return b"".join((
        b"GGUF", struct.pack("<IQQ", 3, 0, 1),
        struct.pack("<Q", len(key)), key, struct.pack("<I", 8),
        struct.pack("<Q", len(value)), value,
    ))  # fmt: skip


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as folder:
        # Measured as users run it: with bytecode caches written (and warmed up below), which
        # PYTHONDONTWRITEBYTECODE would turn into a recompile of every module on every run.
        env = {key: value for key, value in os.environ.items()
               if key != "PYTHONDONTWRITEBYTECODE"}
        env["LAMINA_HOME"] = str(Path(folder) / "home")
        (Path(folder) / "tiny.gguf").write_bytes(tiny_gguf())
        (Path(folder) / "Modelfile").write_text("FROM ./tiny.gguf\nSYSTEM be brief\n"
                                                "PARAMETER temperature 0.7\n")
        subprocess.run([LAMINA, "create", "demo", "-q", "-f", str(Path(folder) / "Modelfile")],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        commands = {
            "--help": [LAMINA, "--help"], "--version": [LAMINA, "--version"],
            "list": [LAMINA, "list"], "show": [LAMINA, "show", "demo"],
        }  # fmt: skip
        bare = [sys.executable, "-c", "pass"]
        for argv in (bare, *commands.values()):  # warm-up: caches written, files in memory
            timed(argv, env)
        times: dict[str, list[float]] = {"python -c pass": [], **{name: [] for name in commands}}
        for _ in range(rounds):
            for name, argv in commands.items():
                times["python -c pass"].append(timed(bare, env))
                times[name].append(timed(argv, env))
    base = statistics.median(times.pop("python -c pass"))
    print(f"{rounds} rounds; python -c pass: median {base * 1000:.1f} ms")
    print(f"{'command':<12}{'median':>10}{'over bare':>12}{'ratio':>8}  target: within "
          f"{TARGET * 1000:.0f} ms")
    worst = 0.0
    for name, samples in times.items():
        median = statistics.median(samples)
        worst = max(worst, median - base)
        print(f"{name:<12}{median * 1000:>8.1f} ms{(median - base) * 1000:>9.1f} ms"
              f"{median / base:>8.2f}  {'ok' if median - base <= TARGET else 'SLOW'}")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
