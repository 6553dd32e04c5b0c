"""The store commands through click: exact output, JSON shapes and exit codes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lamina.cli import main
from tests.conftest import TINY_GGUF_SHA256


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("LAMINA_HOME", str(path))
    return path


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def modelfile(folder: Path, text: str, name: str = "Modelfile") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def model_id(name: str) -> str:
    return str(json.loads(run("show", name, "--json")[1])["id"])


def test_create_list_show_rm(home: Path, tiny_gguf: Path) -> None:
    path = modelfile(tiny_gguf.parent, "FROM ./tiny.gguf\nSYSTEM be brief\nPARAMETER top_k 3\n")
    code, out, err = run("create", "demo", "-f", str(path))
    assert code == 0, err
    assert out.startswith("created demo:latest (")
    short_id = out.strip().removesuffix(")").rsplit("(", 1)[1]
    assert "creating new layer sha256:89a2116c" in err and "writing manifest" in err

    code, out, _ = run("list")
    header, row = out.splitlines()
    assert header.split() == ["NAME", "ID", "SIZE", "MODIFIED"]
    assert row.split()[:2] == ["demo:latest", short_id] and len(short_id) == 12

    code, out, _ = run("list", "--json")
    (entry,) = json.loads(out)["models"]
    assert set(entry) == {"name", "id", "size", "modified", "status", "problem"}
    assert (entry["name"], entry["status"]) == ("demo:latest", "ok")
    assert entry["id"].startswith(f"sha256:{short_id}") and len(entry["id"]) == 71

    code, out, _ = run("show", "demo")
    assert "architecture      test" in out and "be brief" in out and "top_k" in out

    code, out, _ = run("show", "demo", "--json")
    shown = json.loads(out)
    assert (shown["system"], shown["parameters"], shown["quantization"]) == (
        "be brief", {"top_k": 3}, "unknown"
    )

    assert run("rm", "demo")[:2] == (0, "deleted 'demo:latest' (4 blobs freed, 235 B)\n")
    assert json.loads(run("list", "--json")[1]) == {"models": []}


def test_progress_lines_end_with_success_and_quiet_silences_them(
    home: Path, tiny_gguf: Path
) -> None:
    path = modelfile(tiny_gguf.parent, "FROM ./tiny.gguf\n")
    _, out, err = run("create", "a", "-f", str(path))
    assert err.splitlines() == [
        "parsing GGUF tiny.gguf",
        f"creating new layer sha256:{TINY_GGUF_SHA256}",
        "writing manifest",
        "tiny.gguf: hardlink",
        "success",
    ]
    _, out, err = run("create", "a", "-f", str(path))
    assert err.splitlines()[-2:] == ["tiny.gguf: already in the store (hash cached)", "success"]
    code, out, err = run("create", "a", "-q", "-f", str(path))
    assert (code, err) == (0, "") and out.startswith("created a:latest (")
    code, out, err = run("verify", "--quiet")
    assert (code, err) == (0, "")


def test_user_text_is_printed_exactly(home: Path, tiny_gguf: Path) -> None:
    system = r"say :smile: and [bold]a:b:c[/bold] \n C:\path"
    path = modelfile(tiny_gguf.parent,
                     f'FROM ./tiny.gguf\nSYSTEM """{system}"""\nPARAMETER stop [red]x\n')
    run("create", "m", "-f", str(path))
    _, out, _ = run("show", "m")
    assert f"    {system}\n" in out
    assert "    stop              [red]x\n" in out
    assert run("show", "m", "--system")[1] == system + "\n"
    _, out, _ = run("diff", "m", "m")
    assert out == f"m:latest and m:latest are identical (ID {model_id('m')[7:19]})\n"


def test_parameters_are_shown_as_a_modelfile_writes_them(home: Path, tiny_gguf: Path) -> None:
    path = modelfile(tiny_gguf.parent, "FROM ./tiny.gguf\nPARAMETER temperature 0.7\n"
                     "PARAMETER use_mmap false\nPARAMETER stop <|im_end|>\nPARAMETER stop ###\n"
                     "PARAMETER num_ctx 4096\n")
    run("create", "m", "-f", str(path))
    _, out, _ = run("show", "m", "--parameters")
    assert out.splitlines() == [
        f"{'num_ctx':<30} 4096", f"{'stop':<30} <|im_end|>", f"{'stop':<30} ###",
        f"{'temperature':<30} 0.7", f"{'use_mmap':<30} false",
    ]
    child = "FROM m\nPARAMETER repeat_penalty 1.1\nPARAMETER temperature 1\n"
    run("create", "n", "-f", str(modelfile(tiny_gguf.parent, child, "N")))
    _, out, _ = run("diff", "m", "n")
    assert "parameter repeat_penalty: (unset) -> 1.1\n" in out
    assert "parameter temperature: 0.7 -> 1\n" in out
    assert "None" not in out and "'" not in out


def test_show_sections(home: Path, tiny_gguf: Path) -> None:
    text = 'FROM ./tiny.gguf\nTEMPLATE "{{ .Prompt }}"\nLICENSE """one\ntwo\nthree\nfour"""\n'
    run("create", "m", "-f", str(modelfile(tiny_gguf.parent, text)))
    assert run("show", "m", "--template") == (0, "{{ .Prompt }}\n", "")
    assert run("show", "m", "--license")[1] == "one\ntwo\nthree\nfour\n"
    assert run("show", "m", "--system") == (0, "", "")
    assert "    ... (lamina show --license prints all of it)" in run("show", "m")[1]


def test_show_modelfile_recreates_the_model_from_any_folder(
    tmp_path: Path, tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAMINA_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    path = modelfile(tiny_gguf.parent, 'FROM ./tiny.gguf\nTEMPLATE """{{ .Prompt }}\n"""\n')
    run("--home", "rel-home", "create", "a", "-f", str(path))
    _code, text, _ = run("--home", "rel-home", "show", "a", "--modelfile")
    assert f"FROM {tmp_path / 'rel-home' / 'blobs'}/sha256-" in text
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert run("--home", "../rel-home", "create", "b", "-f", "-", stdin=text)[0] == 0
    listed = json.loads(run("--home", "../rel-home", "list", "--json")[1])["models"]
    ids = {entry["name"]: entry["id"] for entry in listed}
    assert ids["a:latest"] == ids["b:latest"]


def test_create_reads_standard_input_with_paths_from_the_cwd(
    home: Path, tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tiny_gguf.parent)
    code, _, err = run("create", "s", "-f", "-", stdin="FROM ./tiny.gguf\nSYSTEM hi\n")
    assert code == 0, err
    assert json.loads(run("show", "s", "--json")[1])["system"] == "hi"
    code, _, err = run("create", "s", "-f", "-", stdin="FROM x\nPARAMETER nope 1\n")
    assert code == 1 and err.startswith("Error: <stdin>:2:11: unknown parameter 'nope'")


def test_list_never_cuts_columns(home: Path, tiny_gguf: Path) -> None:
    path = modelfile(tiny_gguf.parent, "FROM ./tiny.gguf\n")
    long_name = "team/" + "a-very-long-model-name-" * 3 + ":v1"
    run("create", long_name, "-f", str(path))
    run("create", "x", "-f", str(path))
    result = CliRunner().invoke(main, ["list"], env={"COLUMNS": "20"}, catch_exceptions=False)
    header, *rows = result.stdout.splitlines()
    assert sorted(row.split()[0] for row in rows) == sorted([long_name, "x:latest"])
    id_column = header.index("ID")
    assert all(len(row.split()[1]) == 12 and row[id_column:].split()[0] == row.split()[1]
               for row in rows)


def test_diff_names_layer_order_and_from_differences(home: Path, tiny_gguf: Path) -> None:
    folder = tiny_gguf.parent
    run("create", "ab", "-f", str(modelfile(folder, "FROM ./tiny.gguf\nLICENSE a\nLICENSE b\n")))
    run("create", "ba", "-f", str(modelfile(folder, "FROM ./tiny.gguf\nLICENSE b\nLICENSE a\n")))
    code, out, _ = run("diff", "ab", "ba")
    assert code == 0
    assert out.splitlines()[0].endswith("differ in: layer_order, license")
    report = json.loads(run("diff", "ab", "ba", "--json")[1])
    assert report["identical"] is False and report["only_a"] == report["only_b"] == []
    assert report["differences"] == ["layer_order", "license"]

    run("create", "child", "-f", str(modelfile(folder, "FROM ab\n", "Child")))
    report = json.loads(run("diff", "ab", "child", "--json")[1])
    assert report["identical"] is False and report["differences"] == ["from"]
    assert {layer["from"] for layer in report["shared"]} == {None}

    assert run("cp", "ab", "copy")[1] == "copied 'ab' to 'copy:latest'\n"
    report = json.loads(run("diff", "ab", "copy", "--json")[1])
    assert (report["identical"], report["differences"]) == (True, [])


def test_diff_shows_which_messages_changed_not_only_their_count(
        home: Path, tiny_gguf: Path) -> None:
    folder = tiny_gguf.parent
    run("create", "m1", "-f", str(modelfile(
        folder, "FROM ./tiny.gguf\nMESSAGE user hi\nMESSAGE assistant ahoy\n")))
    run("create", "m2", "-f", str(modelfile(
        folder, "FROM ./tiny.gguf\nMESSAGE user hi\nMESSAGE assistant \"\"\"arr\nmatey\"\"\"\n")))
    code, out, _ = run("diff", "m1", "m2")
    assert code == 0 and out.splitlines()[0].endswith("differ in: layers, messages")
    assert "messages: 2 -> 2" not in out
    assert " MESSAGE user hi\n" in out
    assert '-MESSAGE assistant ahoy\n+MESSAGE assistant """arr\n+matey"""\n' in out
    report = json.loads(run("diff", "m1", "m2", "--json")[1])
    assert "+matey" in report["texts"]["messages"]


def test_cp_and_diff(home: Path, tiny_gguf: Path) -> None:
    run("create", "a", "-f", str(modelfile(tiny_gguf.parent, "FROM ./tiny.gguf\nSYSTEM one\n")))
    run("create", "c", "-f", str(modelfile(tiny_gguf.parent, "FROM a\nSYSTEM two\n")))
    _code, out, _ = run("diff", "a", "c")
    lines = out.splitlines()
    assert lines[0].endswith("differ in: layers, from, system")
    assert lines[1] == "1 shared layer, 1 only in a:latest, 1 only in c:latest"
    assert "-one\n+two\n" in out


def test_gc_du_verify(home: Path, tiny_gguf: Path) -> None:
    run("create", "a", "-f", str(modelfile(tiny_gguf.parent, "FROM ./tiny.gguf\nSYSTEM s\n")))
    code, out, _ = run("du", "--json")
    assert json.loads(out)["models"] == 1
    code, out, _ = run("verify")
    assert (code, out) == (0, "3 blobs checked: ok\n")
    code, out, _ = run("gc", "--dry-run", "--grace", "0")
    assert out == "would delete 0 blobs and 0 temp files, 0 B\n"
    system = next(p for p in (home / "blobs").iterdir() if p.stat().st_size == 1)
    system.write_bytes(b"X")
    code, out, _ = run("verify", "--json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False and len(report["corrupt"]) == 1
    assert report["corrupt"][0]["actual_digest"].startswith("sha256:")


def test_gc_says_what_the_grace_period_kept(home: Path, tiny_gguf: Path) -> None:
    run("create", "a", "-f", str(modelfile(tiny_gguf.parent, "FROM ./tiny.gguf\n")))
    for text in (b"left by a create that was killed", b"and another"):
        (home / "blobs" / f"sha256-{hashlib.sha256(text).hexdigest()}").write_bytes(text)
    code, out, _ = run("gc")
    assert (code, out) == (0, "deleted 0 blobs and 0 temp files, 0 B\n"
                              "kept 2 unused blobs (43 B) younger than 1 hour; "
                              "--grace 0 deletes them too\n")
    report = json.loads(run("gc", "--json", "--grace", "7200")[1])
    assert (report["grace_seconds"], report["deleted_blobs"]) == (7200, [])
    assert sorted(blob["size"] for blob in report["kept_blobs"]) == [11, 32]
    _, out, _ = run("gc", "--grace", "0", "--dry-run")
    assert out.splitlines()[-1] == "would delete 2 blobs and 0 temp files, 43 B"
    _, out, _ = run("gc", "--grace", "0")
    assert out.splitlines()[-1] == "deleted 2 blobs and 0 temp files, 43 B"
    assert run("gc", "--grace", "0")[1] == "deleted 0 blobs and 0 temp files, 0 B\n"


@pytest.mark.parametrize("grace", ["-1", "nan", "inf", "-inf", "soon"])
def test_gc_refuses_a_bad_grace_period(home: Path, grace: str) -> None:
    code, out, err = run("gc", "--grace", grace)
    assert (code, out) == (2, "")
    assert "Invalid value for '--grace'" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "nope"), "Error: model 'nope' not found (see 'lamina list')\n"),
        (("rm", "nope"), "Error: model 'nope' not found (see 'lamina list')\n"),
        (("show", "bad name"), "Error: invalid model name: 'bad name'"),
        (("create", "x", "-f", "/nonexistent/Modelfile"),
         "Error: /nonexistent/Modelfile: no such Modelfile (give one with -f)\n"),
        (("create", "x", "-f", "/no/[bold]:smile:a:b:c"),
         "Error: /no/[bold]:smile:a:b:c: no such Modelfile (give one with -f)\n"),
    ],
)
def test_errors_are_one_line_and_exit_1(home: Path, args: tuple[str, ...], message: str) -> None:
    code, out, err = run(*args)
    assert (code, out) == (1, "")
    assert err.startswith(message)
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "code", "exit_code"),
    [
        (("show", "nope", "--json"), "model_not_found", 1),
        (("rm", "--json", "nope"), "model_not_found", 1),
        (("diff", "--json", "bad name", "x"), "invalid_name", 1),
        (("create", "x", "--json", "-f", "/nonexistent/Modelfile"), "file_not_found", 1),
        (("show", "--json"), "usage_error", 2),
        (("list", "--json", "--bogus"), "usage_error", 2),
        (("--bogus", "list", "--json"), "usage_error", 2),
        (("nope", "--json"), "usage_error", 2),
    ],
)
def test_errors_under_json_are_json(
    home: Path, args: tuple[str, ...], code: str, exit_code: int
) -> None:
    status, out, err = run(*args)
    assert (status, err) == (exit_code, "")
    error = json.loads(out)["error"]
    assert error["code"] == code and error["message"]


def test_create_from_a_non_gguf_names_the_file(home: Path, tmp_path: Path) -> None:
    (tmp_path / "weights.gguf").write_text("<html>not found</html>")
    path = modelfile(tmp_path, "FROM ./weights.gguf\n")
    code, _out, err = run("create", "x", "-f", str(path))
    assert code == 1
    expected = f"Error: {tmp_path / 'weights.gguf'}: not a GGUF file (found"
    assert err.splitlines()[-1].startswith(expected)
    assert not (home / "manifests").exists()


def test_create_reports_modelfile_errors_with_location(home: Path, tmp_path: Path) -> None:
    path = modelfile(tmp_path, "FROM x\nPARAMETER temprature 1\n")
    code, _, err = run("create", "x", "-f", str(path))
    assert code == 1
    assert err.startswith(f"Error: {path}:2:11: unknown parameter 'temprature'")


def test_rm_deletes_nothing_when_a_name_is_unknown(home: Path, tiny_gguf: Path) -> None:
    run("create", "a", "-f", str(modelfile(tiny_gguf.parent, "FROM ./tiny.gguf\n")))
    code, out, err = run("rm", "a", "nope")
    assert (code, out) == (1, "") and "model 'nope' not found" in err
    assert [m["name"] for m in json.loads(run("list", "--json")[1])["models"]] == ["a:latest"]
    report = json.loads(run("rm", "a", "A:latest", "--json")[1])
    assert len(report["removed"]) == 1
    assert report["removed"][0]["name"] == "a:latest"
    assert report["removed"][0]["freed_size"] == sum(
        blob["size"] for blob in report["removed"][0]["freed_blobs"])


def test_gc_help_states_the_stores_grace_period() -> None:
    import store

    _, out, _ = run("gc", "--help")
    assert f"[default: {store.GRACE_SECONDS:g}]" in " ".join(out.split())
