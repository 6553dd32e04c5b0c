"""One table turns every OSError into a StorageError that says what to do."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from store.errors import StorageError, advice_for, storage_errors


@pytest.mark.parametrize(
    "code, words",
    [
        (errno.ENOSPC, "disk is full"),
        (errno.EDQUOT, "quota"),
        (errno.EROFS, "read-only"),
        (errno.EACCES, "permission denied"),
        (errno.ENAMETOOLONG, "too long"),
        (errno.ENOENT, "no such file"),
        (errno.EXDEV, "different file systems"),
        (errno.EMLINK, "too many hard links"),
        (errno.EIO, "disk may be failing"),
    ],
)
def test_each_errno_gets_advice_and_keeps_its_code(code: int, words: str) -> None:
    error = StorageError.from_oserror(OSError(code, os.strerror(code), "/x/y"), "/fallback")
    assert words in error.problem
    assert error.errno == code
    assert error.path == "/x/y"
    assert str(error).startswith("/x/y: ")


def test_the_fallback_path_names_errors_without_a_file() -> None:
    error = StorageError.from_oserror(OSError(errno.ENOSPC, "No space"), Path("/store/blobs"),
                                      "cannot write blob")
    assert str(error) == (
        "/store/blobs: cannot write blob: the disk is full; free some space and run the command "
        "again"
    )
    assert error.out_of_space


def test_unknown_errnos_fall_back_to_the_system_text() -> None:
    assert advice_for(OSError(errno.ECHILD, "No child processes")) == "No child processes"


def test_the_context_manager_translates_and_chains(tmp_path: Path) -> None:
    with pytest.raises(StorageError) as caught, storage_errors(tmp_path):
        (tmp_path / ("x" * 300)).write_bytes(b"")
    assert caught.value.errno == errno.ENAMETOOLONG
    assert isinstance(caught.value.__cause__, OSError)


def test_read_only_advice_fits_every_folder_not_only_the_store() -> None:
    # the same table reports export --dir, save -o and fmt targets, which --home cannot move
    advice = advice_for(OSError(errno.EROFS, "Read-only file system", "/mnt/ollama/blobs"))
    assert "read-only" in advice and "--home" not in advice
