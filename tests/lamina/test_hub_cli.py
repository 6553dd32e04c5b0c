"""pull hf.co/… and FROM hf.co/…: huggingface_hub against a loopback Hub, HF cache in tmp."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lamina import schema
from lamina.cli import main
from ocitypes import mediatypes
from tests.conftest import MakeGGUF
from tests.lamina.hubserver import Hub, start_hub
from tests.store.test_gguf_merge import write_shards


@pytest.fixture(scope="module")
def server() -> Iterator[Hub]:
    running = start_hub()
    yield running
    running.stop()


@pytest.fixture
def hub(server: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        make_gguf: MakeGGUF) -> Hub:
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LAMINA_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    server.requests.clear()
    server.gated.clear()
    server.corrupt.clear()
    server.cut_at.clear()
    server.sent.clear()
    server.stall_at.clear()
    server.repos.clear()
    quants = {"Q4_K_M": 15, "Q8_0": 7, "IQ2_XS": 2}
    server.repos["user/tiny-GGUF"] = {
        f"Tiny-{quant}.gguf": make_gguf(f"q/{quant}.gguf", file_type=file_type,
                                        extra={"general.name": quant}).read_bytes()
        for quant, file_type in quants.items()
    }
    server.repos["user/tiny-GGUF"]["README.md"] = b"# tiny\n"
    return server


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def pulled(*args: str) -> schema.HubPullOutput:
    code, out, err = run("pull", *args, "--json")
    assert code == 0, err + out
    return schema.HubPullOutput.model_validate_json(out)


def hf_blob(tmp_path: Path, repo: str, digest: str) -> Path:
    folder = "models--" + repo.replace("/", "--")
    return tmp_path / "hf" / "hub" / folder / "blobs" / digest.removeprefix("sha256:")


def store_blob(tmp_path: Path, digest: str) -> Path:
    return tmp_path / "home" / "blobs" / digest.replace(":", "-")


def test_default_quant_is_q4_k_m_and_one_inode(hub: Hub, tmp_path: Path) -> None:
    result = pulled("hf.co/user/tiny-GGUF")
    assert result.name == "hf.co/user/tiny-GGUF:latest" and result.quant == "Q4_K_M"
    [file] = result.files
    assert file.path == "Tiny-Q4_K_M.gguf" and file.action == "downloaded"
    assert file.linked == "hardlink" and file.transferred_size == file.size
    cached, stored = hf_blob(tmp_path, "user/tiny-GGUF", file.digest), store_blob(tmp_path,
                                                                                 file.digest)
    assert cached.stat().st_ino == stored.stat().st_ino
    snapshot = next((tmp_path / "hf" / "hub").glob("models--*/snapshots/*/Tiny-Q4_K_M.gguf"))
    assert snapshot.resolve() == cached
    code, out, _ = run("show", "hf.co/user/tiny-GGUF", "--json")
    assert code == 0 and json.loads(out)["layers"][0]["digest"] == file.digest
    assert json.loads(out)["quantization"] == "Q4_K_M"  # the config layer, from GGUF metadata


def test_quant_matches_without_case(hub: Hub) -> None:
    result = pulled("huggingface.co/user/tiny-GGUF:q8_0")
    assert [f.path for f in result.files] == ["Tiny-Q8_0.gguf"]
    assert result.name == "huggingface.co/user/tiny-GGUF:q8_0"
    _code, out, _ = run("list")
    assert "huggingface.co/user/tiny-GGUF:q8_0" in out


def test_unknown_quant_lists_the_quants(hub: Hub) -> None:
    code, out, err = run("pull", "hf.co/user/tiny-GGUF:Q5_K_S")
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [
        "Error: hf.co/user/tiny-GGUF: no Q5_K_S file; quants there: IQ2_XS, Q4_K_M, Q8_0 "
        "(name one, as hf.co/user/tiny-GGUF:IQ2_XS)"]
    code, out, _ = run("pull", "hf.co/user/tiny-GGUF:Q5_K_S", "--json")
    assert code == 1 and json.loads(out)["error"]["code"] == "hub_no_model"
    assert not any(r[0] == "GET" and "/resolve/" in r[1] for r in hub.requests)


def test_no_default_quant_says_which_exist(hub: Hub) -> None:
    del hub.repos["user/tiny-GGUF"]["Tiny-Q4_K_M.gguf"]
    code, _, err = run("pull", "hf.co/user/tiny-GGUF")
    assert code == 1 and "no Q4_K_M file to default to; quants there: IQ2_XS, Q8_0" in err


def test_a_blob_in_the_store_is_not_downloaded_again(hub: Hub, tmp_path: Path) -> None:
    first = pulled("hf.co/user/tiny-GGUF:Q8_0")
    assert len(hub.gets("Tiny-Q8_0.gguf")) == 1
    import shutil

    shutil.rmtree(tmp_path / "hf")  # the HF cache is gone; the store still has the blob
    again = pulled("hf.co/user/tiny-GGUF:Q8_0")
    assert len(hub.gets("Tiny-Q8_0.gguf")) == 1  # no second download
    [file] = again.files
    assert file.action == "present" and file.transferred_size == 0 and again.id == first.id
    cached = hf_blob(tmp_path, "user/tiny-GGUF", file.digest)
    assert cached.stat().st_ino == store_blob(tmp_path, file.digest).stat().st_ino
    assert next((tmp_path / "hf" / "hub").glob("models--*/snapshots/*/Tiny-Q8_0.gguf")) \
        .resolve() == cached


def test_interrupted_download_resumes(hub: Hub, tmp_path: Path) -> None:
    size = len(hub.repos["user/tiny-GGUF"]["Tiny-Q8_0.gguf"])
    hub.cut_at["Tiny-Q8_0.gguf"] = size // 2
    result = pulled("hf.co/user/tiny-GGUF:Q8_0")
    ranges = [r[2] for r in hub.gets("Tiny-Q8_0.gguf")]
    assert ranges == [f"bytes=0-{size - 1}", f"bytes={size // 2}-{size - 1}"]
    assert hub.sent["Tiny-Q8_0.gguf"] == size
    code, out, err = run("verify")
    assert code == 0, out + err
    assert result.files[0].action == "downloaded" and result.files[0].transferred_size == size


def test_a_pull_that_failed_halfway_goes_on_in_the_next_run(
        hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    pull = importlib.import_module("store.hub.pull")

    monkeypatch.setattr(pull, "ATTEMPTS", 1)  # the run ends at the first break
    size = len(hub.repos["user/tiny-GGUF"]["Tiny-Q8_0.gguf"])
    hub.cut_at["Tiny-Q8_0.gguf"] = size // 3
    code, out, _ = run("pull", "hf.co/user/tiny-GGUF:Q8_0", "--json")
    assert code == 1 and json.loads(out)["error"]["code"] == "hub_unreachable"
    assert "run the pull again" in json.loads(out)["error"]["message"]
    assert list((tmp_path / "home" / ".lamina" / "partial").glob("sha256-*.part"))
    assert not list((tmp_path / "hf" / "hub").glob("models--*/blobs/*"))
    hub.sent.clear()
    [file] = pulled("hf.co/user/tiny-GGUF:Q8_0").files
    assert hub.sent["Tiny-Q8_0.gguf"] == size - size // 3  # only the rest
    assert file.transferred_size == size - size // 3
    cached = hf_blob(tmp_path, "user/tiny-GGUF", file.digest)
    assert cached.stat().st_ino == store_blob(tmp_path, file.digest).stat().st_ino
    assert not list((tmp_path / "home" / ".lamina" / "partial").glob("sha256-*"))


def test_corrupt_bytes_are_rejected(hub: Hub, tmp_path: Path) -> None:
    hub.corrupt.add("Tiny-Q8_0.gguf")
    code, out, _ = run("pull", "hf.co/user/tiny-GGUF:Q8_0", "--json")
    assert code == 1
    error = json.loads(out)["error"]
    assert error["code"] == "digest_mismatch"
    assert not list((tmp_path / "home" / "blobs").glob("sha256-*"))
    assert not list((tmp_path / "hf" / "hub").glob("models--*/blobs/*"))  # not trusted later
    code, out, _ = run("list", "--json")
    assert json.loads(out)["models"] == []


def test_split_shards_and_projector(hub: Hub, tmp_path: Path, make_gguf: MakeGGUF) -> None:
    tensors = [(f"blk.{i}.w", np.zeros((4, 8), dtype=np.float32), None) for i in range(3)]
    shards = write_shards(tmp_path, tensors, [2, 1], prefix="Big-Q4_K_M")
    projector = make_gguf("mmproj.gguf", arch="clip", general_type="mmproj")
    hub.repos["user/big"] = {f"Q4_K_M/{p.name}": p.read_bytes() for p in shards}
    hub.repos["user/big"]["mmproj-Big-F16.gguf"] = projector.read_bytes()
    result = pulled("hf.co/user/big:Q4_K_M")
    assert [f.path for f in result.files] == [
        "Q4_K_M/Big-Q4_K_M-00001-of-00002.gguf", "Q4_K_M/Big-Q4_K_M-00002-of-00002.gguf",
        "mmproj-Big-F16.gguf"]
    _code, out, _ = run("show", "hf.co/user/big:Q4_K_M", "--json")
    types = [layer["media_type"] for layer in json.loads(out)["layers"]]
    assert types.count(mediatypes.MODEL) == 1 and types.count(mediatypes.PROJECTOR) == 1
    model = next(la for la in json.loads(out)["layers"] if la["media_type"] == mediatypes.MODEL)
    assert model["size"] > max(len(d) for d in hub.repos["user/big"].values())  # merged


def test_modelfile_from_hf(hub: Hub, tmp_path: Path) -> None:
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text("FROM hf.co/user/tiny-GGUF:Q8_0\nSYSTEM be brief\n")
    code, out, err = run("create", "brief", "-f", str(modelfile))
    assert code == 0, err + out
    code, out, _ = run("show", "brief", "--json")
    shown = json.loads(out)
    assert shown["system"] == "be brief"
    code, listed, _ = run("list")
    assert "hf.co/user/tiny-GGUF:Q8_0" in listed
    assert len(hub.gets("Tiny-Q8_0.gguf")) == 1
    code, _, err = run("create", "again", "-f", str(modelfile))  # now in the store: no pull
    assert code == 0 and len(hub.gets("Tiny-Q8_0.gguf")) == 1


def test_create_json_from_hf_prints_one_document(hub: Hub, tmp_path: Path) -> None:
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text("FROM hf.co/user/tiny-GGUF\n")
    code, out, err = run("create", "m", "-f", str(modelfile), "--json")
    assert code == 0, err + out
    assert json.loads(out)["name"] == "m:latest"  # create's document alone, not the pull's


@pytest.mark.parametrize(("repo", "code_name", "words"), [
    ("user/missing", "hub_not_found", "no such repository"),
    ("user/gated", "hub_unauthorized", "HF_TOKEN"),
    ("user/text", "hub_no_model", "has no GGUF files"),
])
def test_refusals_are_one_line(hub: Hub, repo: str, code_name: str, words: str) -> None:
    hub.repos["user/gated"] = dict(hub.repos["user/tiny-GGUF"])
    hub.gated.add("user/gated")
    hub.repos["user/text"] = {"model.safetensors": b"x"}
    code, out, err = run("pull", f"hf.co/{repo}")
    assert code == 1 and len(err.strip().splitlines()) == 1 and words in err, err
    assert "Traceback" not in err
    code, out, _ = run("pull", f"hf.co/{repo}", "--json")
    assert code == 1 and json.loads(out)["error"]["code"] == code_name


def test_network_down(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    code, out, _err = run("pull", "hf.co/user/tiny-GGUF", "--json")
    assert code == 1 and json.loads(out)["error"]["code"] == "hub_unreachable"
    assert os.environ["HF_ENDPOINT"] in json.loads(out)["error"]["message"]


def test_a_link_placed_in_the_hf_cache_is_in_the_ledger(hub: Hub, tmp_path: Path) -> None:
    import shutil

    from store import Store
    from store.export.common import remove_export
    from store.export.ledger import Ledger

    pulled("hf.co/user/tiny-GGUF:Q8_0")  # downloaded into the store, linked into the cache
    store = Store(tmp_path / "home")
    assert len(Ledger(store.layout).read().entries) == 1
    shutil.rmtree(tmp_path / "hf")
    [file] = pulled("hf.co/user/tiny-GGUF:Q8_0").files  # the stored blob is linked again
    cached = hf_blob(tmp_path, "user/tiny-GGUF", file.digest)
    cache = tmp_path / "hf" / "hub"
    [entry] = Ledger(store.layout).read().entries
    assert (entry.target, entry.root, entry.model) == (
        "huggingface", str(cache), "hf.co/user/tiny-GGUF:Q8_0")
    assert [p.path for p in entry.files] == [str(cached)]
    assert entry.files[0].ino == cached.stat().st_ino
    removed = remove_export(store, "huggingface", cache, "hf.co/user/tiny-GGUF:Q8_0")
    assert removed.removed == (cached,) and not cached.exists()
    assert store_blob(tmp_path, file.digest).exists()  # the store's name is untouched


def test_removal_spares_a_file_the_user_put_in_place_of_the_link(hub: Hub,
                                                                 tmp_path: Path) -> None:
    from store import Store
    from store.export.common import remove_export

    pulled("hf.co/user/tiny-GGUF:Q8_0")
    [file] = pulled("hf.co/user/tiny-GGUF:Q8_0").files
    cached = hf_blob(tmp_path, "user/tiny-GGUF", file.digest)
    import shutil

    shutil.rmtree(tmp_path / "hf")
    pulled("hf.co/user/tiny-GGUF:Q8_0")
    cached.unlink()
    cached.write_bytes(b"the user's own file")
    removed = remove_export(Store(tmp_path / "home"), "huggingface", tmp_path / "hf" / "hub",
                            "hf.co/user/tiny-GGUF:Q8_0")
    assert removed.removed == () and cached.read_bytes() == b"the user's own file"


def test_a_pull_killed_halfway_goes_on_in_the_next_run(hub: Hub, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    size = len(hub.repos["user/tiny-GGUF"]["Tiny-Q8_0.gguf"])
    hub.stall_at["Tiny-Q8_0.gguf"] = size // 2  # ~2 s of trickle, then a hang
    script = "import sys, lamina\nsys.argv[0] = 'lamina'\nlamina.main()"
    killed = subprocess.Popen([sys.executable, "-c", script, "pull", "-q",
                               "hf.co/user/tiny-GGUF:Q8_0"], env=dict(os.environ),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while hub.sent.get("Tiny-Q8_0.gguf", 0) < size // 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    hub.release.set()
    [record] = (tmp_path / "home" / ".lamina" / "partial").glob("sha256-*.ranges")
    kept = sum(int(e) - int(s) for s, e in (
        line.split() for line in record.read_text().splitlines()[1:] if line.strip()))
    assert 0 < kept <= size // 2  # what was durable when the process died
    hub.sent.clear()
    [file] = pulled("hf.co/user/tiny-GGUF:Q8_0").files
    assert hub.sent["Tiny-Q8_0.gguf"] == size - kept  # the rest only
    assert file.transferred_size == size - kept
    code, out, err = run("verify")
    assert code == 0, out + err


def test_lock_and_create_locked_from_hf(hub: Hub, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text("FROM hf.co/user/tiny-GGUF:Q8_0\nSYSTEM be brief\n")
    code, out, err = run("lock", "-f", str(modelfile), "--json")
    assert code == 0, err + out
    (entry,) = json.loads(out)["locked"]
    assert entry["name"] == "hf.co/user/tiny-GGUF:Q8_0"
    assert not [r for r in hub.requests if "/v2/" in r[1]]  # never asked as an OCI registry
    # Another machine: the same files build the same manifest, so the lock holds there.
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path / "elsewhere"))
    code, out, err = run("create", "brief", "-f", str(modelfile), "--locked")
    assert code == 0, err + out
    code, out, _ = run("show", "hf.co/user/tiny-GGUF:Q8_0", "--json")
    assert json.loads(out)["id"] == entry["digest"]
    # The Hub's file changes: a locked create refuses it.
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path / "third"))
    hub.repos["user/tiny-GGUF"]["Tiny-Q8_0.gguf"] += b"\0" * 64
    code, out, err = run("create", "brief", "-f", str(modelfile), "--locked")
    assert code == 1 and "changed" in err and "lamina lock" in err
