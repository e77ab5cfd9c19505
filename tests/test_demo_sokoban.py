"""The Sokoban demo: disjoint level sets, warm-start records that score 100, the README block, and
`logicrl demo --task sokoban --quick` end to end."""

from __future__ import annotations

import json

import pytest

import rewards
from logicrl.demo_sokoban import README_END, README_START, SokobanDemoSettings, make_levels, sft_records
from logicrl.errors import UserError


def test_level_sets_are_disjoint_deterministic_and_bounded():
    settings = SokobanDemoSettings.quick(seed=4)
    data = make_levels(settings)
    grids = {k: {lv.rows for lv in v} for k, v in data.items()}
    assert [len(data[k]) for k in ("sft", "rl", "heldout")] == [64, 16, 8]
    assert not grids["sft"] & grids["heldout"] and not grids["rl"] & grids["heldout"] and not grids["sft"] & grids["rl"]
    assert all(lv.optimal_moves <= settings.max_moves and lv.config == "small-v0" for v in data.values() for lv in v)
    assert make_levels(SokobanDemoSettings.quick(seed=4))["heldout"] == data["heldout"]
    assert make_levels(SokobanDemoSettings.quick(seed=5))["heldout"] != data["heldout"]


def test_warm_start_records_are_optimal_plans():
    levels = make_levels(SokobanDemoSettings.quick())["sft"][:20]
    records = sft_records(levels)
    assert all(r["prompt"].endswith("\n### Actions\n") for r in records)
    fn = rewards.get("sokoban")
    assert fn(None, [r["completion"] for r in records], level=[lv.to_xsb() for lv in levels]) == [100.0] * 20


def test_readme_needs_its_own_markers(tmp_path):
    from logicrl.demo_sokoban import check_readme, update_readme

    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- demo-results:start -->\nK&K\n<!-- demo-results:end -->\n")
    with pytest.raises(UserError, match="sokoban-demo-results"):
        check_readme(readme)
    readme.write_text(readme.read_text() + f"{README_START}\nold\n{README_END}\n")
    update_readme(readme, "new table")
    text = readme.read_text()
    assert "new table" in text and "old" not in text and "K&K" in text


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path, monkeypatch):
    from logicrl.cli import main

    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{README_START}\nold\n{README_END}\n")
    out = tmp_path / "demo"
    assert main(["demo", "--task", "sokoban", "--quick", "--out", str(out), "--threads", "1",
                 "--update-readme", str(readme)]) == 0
    summary = json.loads((out / "results.json").read_text())
    assert summary["task"] == "sokoban" and summary["heldout"] == 8
    for side in ("before", "after"):
        s = summary[side]["greedy"]
        assert s["n"] == 8 and summary["baselines"]["do_nothing"] <= s["score"] <= 100
    assert set(summary["cpu_seconds"]) >= {"warm_start", "rl", "eval_before", "eval_after", "total"}
    assert "Held-out small-v0 Sokoban levels" in readme.read_text() and "old" not in readme.read_text()
    recipe = json.loads((out / "warm_start" / "logicrl_recipe.json").read_text())
    assert recipe["data"]["kind"] == "sokoban" and recipe["data"]["prompt_style"] == "compact"
    assert (out / "rl" / "final" / "config.json").is_file() and (out / "heldout_levels.xsb").is_file()
