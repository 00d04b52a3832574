"""`citywatch hotlist ...` in-process, and the library it manages."""

from __future__ import annotations

import argparse
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.errors import HotlistError
from hub.hotlist_command import add_hotlist_parser, run_hotlist
from hub.hotlist_library import HotlistLibrary

DATA = Path(__file__).resolve().parent.parent / "data" / "hotlists"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="citywatch")
    add_hotlist_parser(parser.add_subparsers(dest="command"))
    return run_hotlist(parser.parse_args(["hotlist", *argv]))


def test_import_then_list_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["import", str(DATA / "autovu_header.txt"), "--name", "stolen", "--covert",
                "--priority", "80", "--data-dir", str(tmp_path)]) == 0
    assert "5 entries, 3 lines rejected" in capsys.readouterr().out
    assert run(["list", "--json", "--data-dir", str(tmp_path)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["name"], r["entries"], r["covert"], r["priority"], r["source"]) for r in rows] \
        == [("stolen", 5, True, 80, "autovu_header.txt")]
    assert run(["list", "--data-dir", str(tmp_path)]) == 0
    assert "stolen" in capsys.readouterr().out


def test_bad_import_keeps_the_old_list(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["import", str(DATA / "autovu_crlf.txt"), "--name", "x",
                "--data-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    assert run(["import", str(DATA / "garbage.png"), "--name", "x",
                "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a hotlist" in err and "Traceback" not in err
    matcher, infos = HotlistLibrary(tmp_path).build()
    assert [(i.name, i.entries) for i in infos] == [("x", 3)] and len(matcher) == 3


def test_invalid_inputs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["import", str(DATA / "autovu_crlf.txt"), "--name", "../evil",
                "--data-dir", str(tmp_path)]) == 2
    assert run(["import", str(tmp_path / "missing.txt"), "--name", "x",
                "--data-dir", str(tmp_path)]) == 1
    with pytest.raises(SystemExit) as exc:
        run(["import", str(DATA / "autovu_crlf.txt"), "--name", "x", "--priority", "101"])
    assert exc.value.code == 2
    capsys.readouterr()


def test_test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["test", str(DATA / "csv_bom.csv"), str(DATA / "reads.txt"), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == [
        {"read": "1-ABC-234", "hits": [{"plate": "1ABC234", "list": "stolen",
                                        "category": "Stolen car", "match": "exact",
                                        "priority": 80}]},
        {"read": "1A8C234", "hits": [{"plate": "1ABC234", "list": "stolen",
                                      "category": "Stolen car", "match": "lookalike",
                                      "priority": 80}]},
        {"read": "ZZZ-999", "hits": []},
    ]


def test_test_jsonl_reads_use_time_and_country(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["test", str(DATA / "csv_bom.csv"), str(DATA / "reads.jsonl"), "--json"]) == 0
    hits = [len(json.loads(line)["hits"]) for line in capsys.readouterr().out.splitlines()]
    assert hits == [1, 0, 0]  # in time and state; expired; wrong country


def test_test_table_and_bad_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["test", str(DATA / "autovu_header.txt"), str(DATA / "reads.txt")]) == 0
    out = capsys.readouterr().out
    assert "1ABC234" in out and "2 of 3 reads hit" in out
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"plate": 12}\n')
    assert run(["test", str(DATA / "autovu_header.txt"), str(bad)]) == 2
    assert "line 1" in capsys.readouterr().err


def test_library_remove_and_load_all(tmp_path: Path) -> None:
    library = HotlistLibrary(tmp_path)
    library.import_file(DATA / "autovu_crlf.txt", "a")
    library.import_file(DATA / "csv_bom.csv", "b", priority=10)
    assert [m.name for m in library.lists()] == ["a", "b"]
    library.remove("a")
    with pytest.raises(HotlistError, match="no hotlist named"):
        library.remove("a")
    assert [m.name for m in library.lists()] == ["b"]
    assert not (tmp_path / "hotlists" / "a.list").exists()


async def test_load_all_in_a_thread(tmp_path: Path) -> None:
    library = HotlistLibrary(tmp_path)
    shutil.copy(DATA / "autovu_crlf.txt", tmp_path / "in.txt")
    library.import_file(tmp_path / "in.txt", "a", covert=True)
    matcher, infos = await library.load_all()
    assert infos[0].covert and infos[0].entries == 3 and infos[0].source == "in.txt"
    assert matcher.match("HHAB1234", datetime.now(UTC))[0].entry.covert is True
