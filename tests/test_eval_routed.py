"""`logicrl eval --adapters ... [--routing FILE | --route NAME]` on the hf backend: each problem through its route
in mixed batches (peft's adapter_names), identical to forcing that route; a per-route table; `logicrl export`."""

from __future__ import annotations

import json

import pytest
import torch
from test_adapters import two_adapter_model

from logicrl.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A routed run's final/ folder: adapters/logic, adapters/math, routing.json (task a -> logic, b -> math)."""
    from logicrl.models import resolve_model_path
    from logicrl.routing import Router
    from logicrl.training.adapters import Routing, export_adapters, settle

    root = tmp_path_factory.mktemp("routed")
    model = two_adapter_model(seed=1)
    with torch.no_grad():  # strong enough that the two routes answer differently
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.mul_(6.0)
    settle(model, ["logic", "math"])
    router = Router(by="task", map={"a": "logic", "b": "math", "kk": "logic"}, default="__base__")
    export_adapters(model, root / "final", Routing(router, ["logic", "math"], ["logic", "math"]),
                    base_model=resolve_model_path("embedded"))
    problems = root / "mixed.jsonl"
    problems.write_text("".join(json.dumps({"problem": f"What is {i} + {i}?", "answer": str(2 * i),
                                            "task": "ab"[i % 2]}) + "\n" for i in range(6)))
    return root


def run_eval(out, *extra):
    code = main(["eval", "--benchmark", extra[0], "--limit", "6", "--temperature", "0", "--max-tokens", "8",
                 "--batch-size", "6", "--prompt-style", "base", "--no-progress", "--out", str(out), *extra[1:]])
    assert code in (0, 1)
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    return {r["problem_id"]: r for r in rows}, json.loads((out / "summary.json").read_text())


def test_routed_eval_equals_forced_routes_and_reports_per_route(exported, tmp_path, capsys):
    final, bench = exported / "final", str(exported / "mixed.jsonl")
    routed, summary = run_eval(tmp_path / "routed", bench, "--adapters", str(final))
    assert {r["route"] for r in routed.values()} == {"logic", "math"}
    assert set(summary["routes"]) == {"logic", "math"} and summary["routes"]["logic"]["problems"] == 3
    assert "by route (adapter)" in capsys.readouterr().out
    forced = {}
    for route in ("logic", "math"):
        adapters = f"logic={final}/adapters/logic,math={final}/adapters/math"
        forced[route], one = run_eval(tmp_path / route, bench, "--adapters", adapters, "--route", route)
        assert set(one["routes"]) == {route}
    for pid, row in routed.items():  # a mixed batch gives each problem exactly its adapter's greedy answer
        assert row["completion"] == forced[row["route"]][pid]["completion"], pid
    assert any(forced["logic"][p]["completion"] != forced["math"][p]["completion"] for p in routed)
    # --routing FILE with the adapters given by name gives the same
    again, _ = run_eval(tmp_path / "file", bench, "--adapters",
                        f"logic={final}/adapters/logic,math={final}/adapters/math", "--routing",
                        str(final / "routing.json"))
    assert {p: r["completion"] for p, r in again.items()} == {p: r["completion"] for p, r in routed.items()}


@pytest.mark.parametrize(("extra", "needle"), [
    (["--route", "logic"], "--route needs --adapters"),
    (["--adapters", "logic=/no/such"], "not a peft adapter directory"),
    (["--adapters", "FINAL", "--route", "vision"], "--route 'vision' names no adapter"),
    (["--adapters", "FINAL", "--adapter", "FINAL/adapters/logic"], "exclusive"),
    (["--adapters", "FINAL/adapters/logic"], "--adapters: expected NAME=PATH"),
    (["--adapters", "FINAL/no/such"], "--adapters: no such folder"),  # was "expected NAME=PATH" for a typo
    (["--adapters", "logic=FINAL/adapters/logic"], "needs --routing FILE"),
    (["--adapters", "FINAL", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1"], "--model <adapter name>"),
])
def test_routed_eval_errors_are_one_line(exported, tmp_path, capsys, extra, needle):
    extra = [e.replace("FINAL", str(exported / "final")) for e in extra]
    out = tmp_path / "out"
    assert main(["eval", "--benchmark", "kk:2", "--limit", "1", "--no-progress", "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1, err
    assert not out.exists()


def test_export_command_prints_serve_command_and_merges_one_route(exported, tmp_path, capsys):
    final = exported / "final"
    assert main(["export", str(final)]) == 0
    printed = capsys.readouterr().out
    assert "vllm serve" in printed and "--lora-modules logic=" in printed
    assert main(["export", str(final), "--merge", "math", "--out", str(tmp_path / "merged")]) == 0
    printed = capsys.readouterr().out
    assert "max |merged - unmerged| logit" in printed
    assert (tmp_path / "merged" / "config.json").is_file()
    assert main(["export", str(final), "--merge", "vision", "--out", str(tmp_path / "m2")]) == 2
    assert "names no adapter" in capsys.readouterr().err
    # --out without --merge was silently ignored (nothing written where the user looks for it)
    assert main(["export", str(final), "--out", str(tmp_path / "m3")]) == 2
    assert "--out needs --merge" in capsys.readouterr().err and not (tmp_path / "m3").exists()


def test_export_merge_never_deletes_a_folder_it_did_not_write(exported, tmp_path, capsys):
    """`--out` naming a folder with other files (a typo, the run folder, the base model) used to be deleted with
    everything in it; a file there gave a traceback. Both are one-line errors now, and nothing is touched."""
    final = exported / "final"
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    a_file = tmp_path / "a_file"
    a_file.write_text("keep me too")
    for out in (precious, a_file, a_file / "sub"):
        assert main(["export", str(final), "--merge", "math", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("logicrl: error:") and err.count("\n") == 1, err
    assert (precious / "notes.txt").read_text() == "keep me" and sorted(p.name for p in precious.iterdir()) == ["notes.txt"]
    assert a_file.read_text() == "keep me too"
    # Its own earlier output is replaced, as before.
    merged = tmp_path / "merged"
    assert main(["export", str(final), "--merge", "math", "--out", str(merged)]) == 0
    assert main(["export", str(final), "--merge", "logic", "--out", str(merged)]) == 0
    assert (merged / "config.json").is_file()


def test_export_merge_carries_the_runs_recipe(exported, tmp_path):
    """A merged route is evaluated in the prompt style and names its run trained with, as `final/` and `merged/`
    are (it used to fall back to the think style: 0% for a model trained on compact prompts)."""
    import shutil

    from logicrl.eval.runner import trained_recipe

    final = tmp_path / "final"
    shutil.copytree(exported / "final", final)
    recipe = {"algorithm": "grpo", "data": {"prompt_style": "compact", "names": ["Al", "Bo", "Cy"]}}
    (final / "logicrl_recipe.json").write_text(json.dumps(recipe))
    assert main(["export", str(final), "--merge", "logic"]) == 0
    assert trained_recipe(str(final / "merged-logic")) == recipe
