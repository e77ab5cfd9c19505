"""`logicrl puzzles generate|show` on good and bad input."""

import subprocess
import sys

import pytest

from logicrl.cli import main
from puzzles import load_kk, solve_kk


def run_cli(capsys, *argv):
    try:
        rc = main(list(argv))
    except SystemExit as exc:  # argparse errors exit directly
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("ext", ["jsonl", "parquet"])
def test_generate_mix_and_show(tmp_path, capsys, ext):
    out = tmp_path / "sub" / f"mix.{ext}"
    rc, stdout, err = run_cli(capsys, "puzzles", "generate", "--people", "3-5", "--count", "31", "--seed", "2",
                              "--out", str(out))
    assert rc == 0, err
    assert "wrote 31 puzzles" in stdout
    puzzles = load_kk(out, verify=True)
    assert len(puzzles) == 31
    assert [p.n_people for p in puzzles].count(3) == 11 and {p.n_people for p in puzzles} == {3, 4, 5}
    assert [p.index for p in puzzles] == list(range(31))
    assert all(solve_kk(p.statements) == [p.solution] for p in puzzles)

    rc, stdout, err = run_cli(capsys, "puzzles", "show", str(out), "--index", "4", "--trace")
    assert rc == 0, err
    assert puzzles[4].quiz in stdout and puzzles[4].solution_text_format in stdout
    assert puzzles[4].trace in stdout
    assert "puzzles: 31 (31 distinct statement sets)" in stdout
    assert "people: 3: 11, 4: 10, 5: 10" in stdout


def test_same_arguments_give_identical_bytes(tmp_path, capsys):
    paths = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    for path in paths:
        assert run_cli(capsys, "puzzles", "generate", "--people", "4", "--count", "20", "--seed", "7",
                       "--roles", "random", "--out", str(path))[0] == 0
    assert paths[0].read_bytes() == paths[1].read_bytes()


def test_role_options(tmp_path, capsys):
    out = tmp_path / "s.jsonl"
    assert run_cli(capsys, "puzzles", "generate", "--people", "3", "--count", "3", "--roles", "saint/sinner",
                   "--flip-roles", "--uncommon-names", "--out", str(out))[0] == 0
    assert all(p.roles == ("sinner", "saint") for p in load_kk(out))


@pytest.mark.parametrize("args, msg", [
    (["--people", "abc", "--count", "3"], "--people: expected people like 3, 3-7 or 3,5"),
    (["--people", "5-3", "--count", "3"], "is empty"),
    (["--people", "1", "--count", "3"], "--people: numbers of people must be within 2-16"),
    (["--people", "3-40", "--count", "3"], "--people: numbers of people must be within 2-16"),
    (["--people", "3", "--count", "0"], "--count must be at least 1"),
    (["--people", "3", "--count", "x"], "invalid int value"),
    (["--people", "3", "--count", "3", "--depth", "1"], "--depth must be within"),
    (["--people", "3", "--count", "3", "--width", "1"], "--width must be within"),
    (["--people", "3", "--count", "3", "--roles", "knight"], "--roles must be"),
    (["--count", "3"], "required"),
])
def test_bad_generate_arguments(tmp_path, capsys, args, msg):
    out = tmp_path / "out.jsonl"
    rc, _, err = run_cli(capsys, "puzzles", "generate", *args, "--out", str(out))
    assert rc == 2
    assert msg in err and err.count("\n") == 1 and err.startswith("logicrl: error:")
    assert list(tmp_path.iterdir()) == []  # no partial file, no temp file


def test_bad_extension_and_show_errors(tmp_path, capsys):
    rc, _, err = run_cli(capsys, "puzzles", "generate", "--people", "3", "--count", "2", "--out",
                         str(tmp_path / "x.csv"))
    assert rc == 2 and "use .jsonl or .parquet" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
    rc, _, err = run_cli(capsys, "puzzles", "show", str(tmp_path / "missing.jsonl"))
    assert rc == 2 and "no such puzzle file" in err and err.count("\n") == 1
    rc, _, err = run_cli(capsys, "puzzles", "show", str(tmp_path))  # a folder: said "no such puzzle file"
    assert rc == 2 and "is a folder" in err and err.count("\n") == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"quiz": "q", "statements": "open(\'x\')"}\n')
    rc, _, err = run_cli(capsys, "puzzles", "show", str(bad))
    assert rc == 2 and "line 1" in err and err.count("\n") == 1
    good = tmp_path / "good.jsonl"
    assert run_cli(capsys, "puzzles", "generate", "--people", "3", "--count", "2", "--out", str(good))[0] == 0
    rc, _, err = run_cli(capsys, "puzzles", "show", str(good), "--index", "5")
    assert rc == 2 and "--index must be within 0-1" in err


def test_console_entry_point_runs_in_a_subprocess(tmp_path):
    out = tmp_path / "p.jsonl"
    proc = subprocess.run([sys.executable, "-m", "logicrl", "puzzles", "generate", "--people", "2-3", "--count", "4",
                           "--out", str(out)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert len(load_kk(out)) == 4
    proc = subprocess.run([sys.executable, "-m", "logicrl", "puzzles", "generate", "--people", "0", "--count", "4",
                           "--out", str(tmp_path / "q.jsonl")], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and not (tmp_path / "q.jsonl").exists()


def test_impossible_count_is_a_one_line_error_and_no_file(tmp_path, capsys):
    rc, _, err = run_cli(capsys, "puzzles", "generate", "--people", "2", "--count", "100000", "--out",
                         str(tmp_path / "two.parquet"))
    assert rc == 2 and "distinct puzzles with 2 people" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
