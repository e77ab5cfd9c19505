"""Runs that survive kills, races and bad input (issue 15), without training: the run folder's lock and
checks, complete-checkpoint detection, metrics truncation, field ranges, recipe files, messages naming the
real cause, SIGTERM cleanup. Training with kills is in test_run_chaos.py."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import typing
from pathlib import Path

import pytest

from logicrl.cli import main
from logicrl.config import TrainConfig, load_config
from logicrl.errors import UserError
from logicrl.training import rundir

REPO = Path(__file__).resolve().parents[1]


def run_cli(capsys, *argv):
    try:
        rc = main(list(argv))
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err.strip()


def one_line_error(rc, err, *needles):
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("logicrl: error:"), err
    for needle in needles:
        assert needle in err, err


# ---------------------------------------------------------------- one run per folder


def _hold_lock_in_subprocess(run_dir: Path) -> subprocess.Popen:
    code = ("import sys, time; from logicrl.training.rundir import RunLock; lock = RunLock(sys.argv[1]).acquire(); "
            "print('held', flush=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(run_dir)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_run_on_a_folder_stops_naming_the_holder_and_a_killed_holder_does_not_block(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    holder = _hold_lock_in_subprocess(run)
    try:
        rc, _, err = run_cli(capsys, "train", f"--output_dir={run}", "--max_steps=1", "--max_completion_length=2")
        one_line_error(rc, err, "in use by another run", f"pid {holder.pid}")
        assert list(run.iterdir()) == [run / rundir.LOCK_FILE]  # nothing else written
    finally:
        holder.kill()  # SIGKILL: no cleanup runs, the lock file stays behind
        holder.wait()
    assert (run / rundir.LOCK_FILE).exists()
    handle = rundir.open_run(load_config({"output_dir": str(run)}))  # the stale file does not block
    try:
        with pytest.raises(UserError, match=f"pid {os.getpid()}"):  # held: even this process cannot reopen it
            rundir.open_run(load_config({"output_dir": str(run), "resume": None}), overwrite=True)
    finally:
        handle.close()
    assert not (run / rundir.LOCK_FILE).exists()


def test_fresh_run_into_another_runs_folder_is_refused_and_overwrite_clears_only_run_outputs(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoint-2").mkdir(parents=True)
    (run / "checkpoint-2" / "trainer_state.json").write_text('{"global_step": 2}')
    (run / "metrics.jsonl").write_text('{"step": 1, "loss": 0.1}\n{"step": 3, "loss": 0.2}\n')
    (run / "notes.txt").write_text("mine")
    before = sorted(p.name for p in run.iterdir())
    with pytest.raises(UserError) as info:
        rundir.open_run(load_config({"output_dir": str(run)}))
    message = str(info.value)
    assert "--resume" in message and "--overwrite" in message and "metrics.jsonl" in message
    assert sorted(p.name for p in run.iterdir()) == before  # nothing changed
    handle = rundir.open_run(load_config({"output_dir": str(run)}), overwrite=True)
    handle.close()
    assert sorted(p.name for p in run.iterdir()) == [rundir.RUN_MARKER, "notes.txt"]
    with pytest.raises(UserError, match="exclude each other"):
        rundir.open_run(load_config({"output_dir": str(run), "resume": "last"}), overwrite=True)


def test_a_run_leaves_the_users_own_files_in_output_dir_alone(tmp_path):
    """TRL's GRPOTrainer writes a model card to output_dir/README.md at every checkpoint: a README.md of the
    user's in the folder (a project root given as output_dir) was overwritten. No card is written now."""
    from test_train_utils import small_recipe

    from logicrl.training import train

    run = tmp_path / "run"
    run.mkdir()
    (run / "README.md").write_text("# my notes\n")
    train(small_recipe(run, max_steps=1, save_steps=1))
    assert (run / "checkpoint-1").is_dir()
    assert (run / "README.md").read_text() == "# my notes\n"


def test_failed_open_leaves_no_folder(tmp_path):
    run = tmp_path / "new" / "run"
    with pytest.raises(UserError, match="no checkpoint to resume from"):
        rundir.open_run(load_config({"output_dir": str(run), "resume": "last"}))
    assert not run.exists()


# ---------------------------------------------------------------- checkpoints and metrics


def _checkpoint(run: Path, step: int, state=True, saving=False) -> Path:
    folder = run / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"x")
    if state:
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    if saving:
        (folder / rundir.SAVING_MARKER).write_text("1")
    return folder


def test_resume_takes_the_newest_complete_checkpoint_and_names_the_skipped(tmp_path, capsys):
    run = tmp_path / "run"
    good = _checkpoint(run, 8)
    _checkpoint(run, 9, state=False)  # killed before trainer_state.json
    _checkpoint(run, 10, saving=True)  # killed before the save was committed
    _checkpoint(run, 11, state=False, saving=True)
    assert rundir.resolve_resume("last", run) == str(good)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("logicrl: skipping incomplete checkpoint") for line in err)
    assert "checkpoint-10" in err[1] and "interrupted" in err[1] and "no trainer_state.json" in err[2]
    with pytest.raises(UserError, match="incomplete"):
        rundir.resolve_resume(str(run / "checkpoint-10"), run)


@pytest.mark.parametrize("change, field", [
    ({"algorithm": "ppo"}, "algorithm"),                 # a critic the checkpoint has no state for
    ({"lora": {"enabled": True}}, "lora.enabled"),       # other trainable parameters
    ({"model": "Qwen/Qwen2.5-0.5B"}, "model"),
])
def test_resume_with_a_recipe_the_checkpoint_cannot_continue_is_one_line(tmp_path, change, field):
    """`--resume --algorithm=ppo` on a GRPO run (or with LoRA switched on) ended deep in torch's optimizer with
    "loaded state dict has a different number of parameter groups"; now the changed field is named first."""
    run = tmp_path / "run"
    _checkpoint(run, 2)
    recipe = {"output_dir": str(run), "max_steps": 2}
    (run / "config.json").write_text(rundir.config_json(load_config(recipe)))
    with pytest.raises(UserError, match=field) as info:
        rundir.open_run(load_config({**recipe, **change, "max_steps": 4, "resume": "last"}))
    assert "\n" not in str(info.value)
    # What a resume may change (more steps, another learning rate, another algorithm without a critic) passes.
    handle = rundir.open_run(load_config({**recipe, "max_steps": 4, "learning_rate": 1e-5, "algorithm": "reinforce_pp",
                                          "resume": "last"}))
    handle.close()


def test_checkpoint_commit_and_leftovers(tmp_path):
    folder = tmp_path / "run" / "checkpoint-3"
    _checkpoint(tmp_path / "run", 3)
    (folder / "stale.bin").write_bytes(b"old")  # a leftover of an interrupted save of the same step
    rundir.begin_checkpoint(folder)
    assert [p.name for p in folder.iterdir()] == [rundir.SAVING_MARKER]
    (folder / "trainer_state.json").write_text('{"global_step": 3}')
    private = folder / "model.safetensors"
    private.write_bytes(b"w")
    os.chmod(private, 0o600)  # as safetensors writes it
    assert not rundir.is_complete_checkpoint(folder)
    rundir.commit_checkpoint(folder)
    assert rundir.is_complete_checkpoint(folder)
    umask = os.umask(0)
    os.umask(umask)
    assert private.stat().st_mode & 0o777 == 0o666 & ~umask


def test_metrics_are_cut_back_to_the_checkpoint_atomically(tmp_path):
    path = tmp_path / "metrics.jsonl"
    rows = [{"step": 0, "heldout/acc": 0.1, "time": 1.0}] + [{"step": s, "loss": s, "time": 10.0 * s} for s in (1, 2, 3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 4, "lo')  # torn last line
    inode = path.stat().st_ino
    assert rundir.truncate_metrics(path, 2) == 20.0
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [0, 1, 2]
    assert path.stat().st_ino != inode  # replaced by rename, not rewritten in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]  # no temp file left


# ---------------------------------------------------------------- every field validated


def _numeric_fields(cls, prefix=""):
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            yield from _numeric_fields(tp, f"{prefix}{f.name}.")
            continue
        inner = [a for a in typing.get_args(tp) if a is not type(None)] or [tp]
        base = typing.get_origin(inner[0]) or inner[0]
        if base in (int, float) or (base is list and typing.get_args(inner[0]) in ((int,), (float,))):
            yield f"{prefix}{f.name}", f


def test_every_numeric_field_declares_its_range():
    from logicrl.bounds import BOUNDS_KEY

    found = dict(_numeric_fields(TrainConfig))
    assert len(found) > 40
    missing = [name for name, f in found.items() if BOUNDS_KEY not in f.metadata]
    assert missing == []


@pytest.mark.parametrize("override, field, says", [
    ("warm_start.batch_size=-1", "warm_start.batch_size", "at least 1"),
    ("data.depth=1", "data.depth", "in 2..6"),
    ("data.width=9", "data.width", "in 2..6"),
    ("epsilon=-1", "epsilon", "positive"),
    ("ppo.cliprange_value=0", "ppo.cliprange_value", "positive"),
    ("heldout.max_new_tokens=0", "heldout.max_new_tokens", "at least 1"),
    ("heldout.people=[3, 14]", "heldout.people[1]", "in 2..12"),
    ("vllm_gpu_memory_utilization=1.5", "vllm_gpu_memory_utilization", "in (0.0, 1.0]"),
    ("save_total_limit=0", "save_total_limit", "at least 1"),
    ("ray.cpus_per_worker=-2", "ray.cpus_per_worker", ">= 0"),
    ("trl.beta=abc", "trl.beta", "a number"),
    ("trl.mask_truncated_completions=3", "trl.mask_truncated_completions", "true or false"),
    ("trl.lr_scheduler_type=bogus", "trl.lr_scheduler_type", "cosine"),
    ("lr_scheduler_type=bogus", "TRL rejected", "cosine"),
])
def test_out_of_range_values_fail_before_any_folder(capsys, tmp_path, override, field, says):
    run = tmp_path / "run"
    rc, _, err = run_cli(capsys, "train", f"--output_dir={run}", f"--{override}")
    one_line_error(rc, err, field, says)
    assert not run.exists()


@pytest.mark.parametrize("overrides, field", [
    (["--data.people=2", "--data.count=1000"], "data.count"),
    (["--heldout.people=2", "--heldout.count=300", "--heldout.every_n_steps=1"], "heldout.count"),
])
def test_more_distinct_puzzles_than_exist_is_one_line(capsys, tmp_path, overrides, field):
    """2-people puzzles have 399 distinct statement sets: asking for more ended in a RuntimeError traceback."""
    run = tmp_path / "run"
    rc, _, err = run_cli(capsys, "train", f"--output_dir={run}", "--max_steps=1", "--per_device_train_batch_size=4",
                         "--num_generations=4", *overrides)
    one_line_error(rc, err, field, "found only 399 distinct puzzles")
    assert not run.exists()


def test_trl_values_of_the_right_type_pass_and_numbers_in_strings_convert():
    config = load_config(None, ["trl.mask_truncated_completions=true", "trl.top_k=5", "trl.lr_scheduler_type=cosine",
                                "trl.weight_decay=1e-2", "trl.vllm_server_host=127.0.0.1"])
    assert config.trl == {"mask_truncated_completions": True, "top_k": 5, "lr_scheduler_type": "cosine",
                          "weight_decay": 0.01, "vllm_server_host": "127.0.0.1"}


def test_output_dir_that_is_a_file_or_under_one(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc, _, err = run_cli(capsys, "train", f"--output_dir={blocker}")
    one_line_error(rc, err, "output_dir", "is a file")
    rc, _, err = run_cli(capsys, "train", f"--output_dir={blocker}/run")
    one_line_error(rc, err, "output_dir", f"{blocker} is a file, not a directory")
    assert blocker.read_text() == "x"


@pytest.mark.parametrize("text, says", [
    ("", "is empty"),
    ("# only a comment\n", "is empty"),
    ("- max_steps: 3\n", "mapping of fields, not list"),
    ("max_steps: 3\nlora:\n  r: 4\n   alpha: 8\n", "line 4, column"),
    ("algorithm: [grpo\nmax_steps: 3\n", "line 2"),
])
def test_recipe_files_that_are_empty_malformed_or_not_mappings(capsys, tmp_path, text, says):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(text)
    rc, _, err = run_cli(capsys, "train", "--config", str(recipe), f"--output_dir={tmp_path / 'run'}")
    one_line_error(rc, err, str(recipe), says)
    assert not (tmp_path / "run").exists()


def test_no_config_at_all_still_means_the_defaults():
    assert load_config(None) == TrainConfig()


# ---------------------------------------------------------------- messages naming the real cause


def test_out_under_a_file_names_the_file(capsys, tmp_path):
    blocker = tmp_path / "passwd"
    blocker.write_text("root:x:0:0\n")
    rc, _, err = run_cli(capsys, "puzzles", "generate", "--people", "3", "--count", "2",
                         "--out", str(blocker / "x.jsonl"))
    one_line_error(rc, err, str(blocker), "is a file, not a directory")
    from puzzles import generate_kk, save_kk

    with pytest.raises(NotADirectoryError, match=f"{blocker} is a file"):
        save_kk(generate_kk(3, 1), blocker / "sub" / "x.jsonl")


def test_show_on_a_binary_file_names_the_file_and_line(capsys, tmp_path):
    from puzzles import generate_kk

    binary = tmp_path / "model.jsonl"
    binary.write_bytes(json.dumps(generate_kk(3, 1)[0].to_record()).encode() + b"\n" + bytes(range(256)) * 4)
    rc, _, err = run_cli(capsys, "puzzles", "show", str(binary))
    one_line_error(rc, err, str(binary), "line 2", "a binary file?")


# ---------------------------------------------------------------- signals


def test_sigterm_during_generate_removes_the_temp_file(tmp_path):
    out = tmp_path / "big.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "logicrl", "puzzles", "generate", "--people", "8", "--count",
                             "100000000", "--no-progress", "--out", str(out)],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        deadline = time.monotonic() + 60
        while not any(p.name.endswith(".tmp") and p.stat().st_size > 0 for p in tmp_path.iterdir()):
            assert time.monotonic() < deadline and proc.poll() is None, "the temp file never appeared"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)  # what `timeout` and schedulers send
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "logicrl: terminated by SIGTERM"
    assert list(tmp_path.iterdir()) == []  # no hidden temp file, no partial output
