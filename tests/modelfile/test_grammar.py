"""The parser is built lazily and its tables cached: checked in fresh interpreters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PARSE = (
    "import modelfile, sys\n"
    "m = modelfile.parse('FROM x\\nPARAMETER top_k 4\\n')\n"
    "assert [i.value for i in m.instructions] == ['x', '4'], m\n"
    "print('lark' in sys.modules)\n"
)


def python(code: str, cache_home: Path) -> str:
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def cache_files(cache_home: Path) -> list[Path]:
    return sorted((cache_home / "lamina").glob("*"))


def test_import_does_not_import_lark(tmp_path: Path) -> None:
    code = "import modelfile, sys\nassert 'lark' not in sys.modules\nprint('ok')"
    assert python(code, tmp_path) == "ok\n"
    assert not (tmp_path / "lamina").exists()  # and touches no cache before a parse


def test_first_parse_writes_the_cache_and_later_ones_read_it(tmp_path: Path) -> None:
    assert python(PARSE, tmp_path) == "True\n"
    (written,) = cache_files(tmp_path)
    assert written.name.startswith("modelfile-grammar-") and written.stat().st_size > 1000
    before = written.stat()
    assert python(PARSE, tmp_path) == "True\n"
    (again,) = cache_files(tmp_path)
    after = again.stat()
    assert (again, after.st_ino, after.st_mtime_ns) == (written, before.st_ino, before.st_mtime_ns)


def test_a_corrupt_cache_is_rebuilt(tmp_path: Path) -> None:
    python(PARSE, tmp_path)
    (written,) = cache_files(tmp_path)
    good = written.read_bytes()
    written.write_bytes(good[: len(good) // 2])
    assert python(PARSE, tmp_path) == "True\n"
    repaired = written.stat()
    assert repaired.st_size > len(good) // 2
    python(PARSE, tmp_path)  # reads the repaired file instead of rewriting it again
    assert written.stat().st_mtime_ns == repaired.st_mtime_ns


def test_an_unwritable_cache_folder_still_parses(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    assert python(PARSE, blocker) == "True\n"
    assert blocker.read_text() == ""
