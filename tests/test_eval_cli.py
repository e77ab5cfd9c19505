"""`logicrl eval` from the command line: bad input gives one line and exit 2; end to end with the
embedded model (HF generate on CPU)."""

from __future__ import annotations

import json

import pytest

from logicrl.cli import main


def exit_code(argv) -> int:
    """The command's exit status, whether it returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--benchmark", "nope"], "unknown benchmark"),
        (["--benchmark", "kk:1"], "people must be within"),
        (["--benchmark", "kk", "--samples", "0"], "--samples"),
        (["--benchmark", "kk", "--samples", "two"], "invalid int"),
        (["--benchmark", "kk", "--top-p", "0"], "--top-p"),
        (["--benchmark", "kk", "--max-tokens", "0"], "--max-tokens"),
        (["--benchmark", "kk", "--backend", "tgi"], "invalid choice"),
        (["--benchmark", "kk", "--backend", "openai"], "--base-url"),
        (["--benchmark", "/no/such/file.jsonl"], "does not exist"),
        (["--benchmark", "aime24", "--data-dir", "/no/such/dir"], "not a directory"),
        (["--benchmark", "kk", "--model", "./no/such/model"], "does not exist"),
        (["--model", "embedded"], "--benchmark"),
        (["--benchmark", "kk:3", "--kk-names", "Al,al,Bo"], "--kk-names"),  # two people no answer tells apart
        (["--benchmark", "kk:3", "--kk-names", "Mary Ann,Bo,Cy"], "--kk-names"),  # a name no grader reads
        (["--benchmark", "kk:2", "--kk-count", "1000"], "found only 399"),  # more than exist
    ],
)
def test_bad_input_one_line_exit_2(argv, needle, tmp_path, capsys):
    out = tmp_path / "out"
    assert exit_code(["eval", *argv, "--out", str(out), "--limit", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1, err
    assert not out.exists()  # nothing half-written


def test_unreadable_data_file_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem": "1+1", "answer": 2}\nnot json\n')
    assert main(["eval", "--benchmark", str(bad), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "line 2 is not valid JSON" in err and err.count("\n") == 1


def test_compact_style_on_math_is_a_one_line_error(tmp_path, capsys):
    """`--prompt-style compact` (K&K only) on a math benchmark ended in a ValueError traceback (exit 1)."""
    data = tmp_path / "math.jsonl"
    data.write_text('{"problem": "1+1", "answer": 2}\n')
    out = tmp_path / "o"
    assert exit_code(["eval", "--benchmark", str(data), "--prompt-style", "compact", "--out", str(out),
                      "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "compact" in err and err.count("\n") == 1, err
    assert not out.exists()


@pytest.mark.slow
def test_end_to_end_embedded_model(tmp_path, shared_math_dir, capsys):
    out = tmp_path / "kk"
    argv = ["eval", "--model", "embedded", "--benchmark", "kk:3", "--kk-count", "3", "--samples", "2",
            "--max-tokens", "12", "--out", str(out), "--no-progress", "--batch-size", "2"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "pass@1" in printed and "K&K 3 people" in printed
    summary = json.loads((out / "summary.json").read_text())
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert summary["total_samples"] == len(records) == 6
    assert {(r["problem_id"], r["sample"]) for r in records} == {(f"kk3-{i}", s) for i in range(3) for s in range(2)}
    assert all(isinstance(r["completion"], str) and 1 <= r["length"] <= 12 for r in records)
    assert summary["response_length"]["unit"] == "tokens" and summary["response_length"]["max"] <= 12
    assert summary["generation"]["tokens_per_second"] > 0
    assert 0.0 <= summary["pass@1"]["mean"] <= 1.0 and "3" in summary["accuracy_by_people"]
    # Rerun into the same folder: nothing regenerated, same figures.
    assert main(argv) == 0
    assert json.loads((out / "summary.json").read_text())["pass@1"] == summary["pass@1"]
    assert len((out / "samples.jsonl").read_text().splitlines()) == 6

    # Math through the chat template, with the repaired AIME 2025 rows.
    out = tmp_path / "aime"
    assert main(["eval", "--model", "embedded", "--benchmark", "aime25", "--data-dir", str(shared_math_dir),
                 "--limit", "2", "--max-tokens", "8", "--temperature", "0", "--out", str(out),
                 "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["repaired_rows"] == 3 and summary["problems"] == 2 and summary["prompt_style"] == "chat"


def test_vllm_backend_missing_is_a_user_error(tmp_path, capsys):
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here; the vLLM tests cover the real backend")
    code = exit_code(["eval", "--benchmark", "kk:2", "--kk-count", "1", "--backend", "vllm",
                      "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "vLLM is not installed" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_a_trained_model_is_evaluated_in_its_training_prompt_style_and_names(tmp_path, capsys):
    """`logicrl eval --model <run>/final` reads the run's saved recipe: the compact prompt style and the fixed
    names it was trained with (a model trained on compact prompts scored 0% in the think style)."""
    from test_train_utils import small_recipe

    from logicrl.training import train

    names = ["Emma", "Liam", "Olivia"]
    result = train(small_recipe(tmp_path / "run", max_steps=1, data={"names": names}))
    out = tmp_path / "eval"
    assert main(["eval", "--model", result.model_dir, "--benchmark", "kk:2-3", "--kk-count", "2",
                 "--max-tokens", "8", "--temperature", "0", "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["prompt_style"] == "compact" and summary["kk_names"] == names
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 4
    for s in samples:
        assert isinstance(s["prompt"], str) and s["prompt"].endswith("?\n")  # the quiz alone
        assert "You meet 2 inhabitants: Emma, and Liam." in s["prompt"] or "Emma, Liam, and Olivia." in s["prompt"]
    assert "prompt style compact" in capsys.readouterr().out
    # More people than fixed names: a one-line error, not a silent mix of names.
    assert main(["eval", "--model", result.model_dir, "--benchmark", "kk:4", "--out", str(tmp_path / "e4"),
                 "--no-progress"]) == 2
    assert "need 4 names" in capsys.readouterr().err
