"""`logicrl eval --benchmark magebench-sokoban`: scripted backends (a solver-driven one scores 100, Global
and Online), the per-episode log, baselines in the summary, resume after a kill, one-line errors, the
OpenAI backend sending the scene as an image data URL, and a short run of the embedded model."""

from __future__ import annotations

import base64
import io
import json

import pytest
from test_eval_doubles import read_jsonl
from test_eval_openai import FakeServer

from agents.sokoban import Level, load_levels, solve
from agents.sokoban.compact import HEADINGS, scene_grid
from logicrl.errors import UserError
from logicrl.eval.runner import EvalConfig, run_eval

MINI = load_levels("mini")


def _grid(prompt) -> Level:
    if isinstance(prompt, str):  # compact: the grid, then the heading
        for heading in HEADINGS.values():
            prompt = prompt.removesuffix(heading)
        return Level(tuple(prompt.rstrip("\n").split("\n")))
    return Level(tuple(scene_grid(prompt).split("\n")))


class SolverBackend:
    """Answers with an optimal plan (Global) or the next optimal move (Online) for the scene it is shown;
    `bad` level names get a reply no parser reads. Fails like a kill after `fail_after` calls."""

    def __init__(self, mode="global", bad=(), fail_after=None):
        self.mode, self.bad, self.fail_after = mode, set(bad), fail_after
        self.calls, self.prompts, self.kwargs = 0, 0, []
        self.generated_tokens = 0

    def generate(self, prompts, n, temperature, top_p, max_tokens, seed):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt("simulated kill")
        self.calls += 1
        self.prompts += len(prompts)
        self.kwargs.append({"n": n, "temperature": temperature, "max_tokens": max_tokens, "seed": seed})
        out = []
        for p in prompts:
            level = _grid(p)
            name = next((lv.name for lv in MINI if lv.rows == level.rows), None)
            moves = solve(level)
            if name in self.bad:
                reply = "I would rather not."
            elif self.mode == "global":
                reply = "### Analyze\nsearch\n### Actions\n" + ", ".join(moves)
            else:
                reply = f"# analyze\nsearch\n# action\n{moves[0]}"
            self.generated_tokens += 3
            out.append([reply] * n)
        return out


def config(tmp_path, **changes):
    base = {"model": "scripted", "benchmark": "magebench-sokoban", "levels": "mini", "limit": 6, "batch_size": 4,
            "out": str(tmp_path / "out"), "progress": False}
    return EvalConfig(**{**base, **changes})


def test_global_solver_double_scores_100_and_logs_every_episode(tmp_path):
    backend = SolverBackend(bad={MINI[1].name})
    summary = run_eval(config(tmp_path), backend=backend)
    rows = read_jsonl(tmp_path / "out" / "samples.jsonl")
    assert [r["level"] for r in rows] == [lv.name for lv in MINI[:6]]
    good = [r for r in rows if r["level"] != MINI[1].name]
    assert all(r["score"] == 100.0 and r["success"] and r["steps"] == r["optimal_moves"] for r in good)
    assert all(r["parse_failures"] == 0 and r["turns"] == 1 and len(r["replies"]) == 1 for r in good)
    assert good[0]["parsed"] == [good[0]["moves"]] and good[0]["moves"] == solve(MINI[0])
    bad = rows[1]
    assert bad["score"] == bad["do_nothing_score"] and bad["parse_failures"] == 1 and not bad["success"]
    assert summary["score"]["mean"] == pytest.approx((500 + bad["do_nothing_score"]) / 6)
    assert summary["success_rate"]["mean"] == pytest.approx(5 / 6) and summary["parse_failures"] == 1
    # MageBench's Global settings: temperature 0.1, 1000 tokens.
    assert {(k["temperature"], k["max_tokens"], k["n"]) for k in backend.kwargs} == {(0.1, 1000, 1)}
    # Baselines on the same levels, beside the score, overall and per configuration.
    dn = [lv.optimal_reward for lv in MINI[:6]]
    assert summary["do_nothing"]["mean"] == pytest.approx(sum(100 - 5 * u for u in dn) / 6)
    assert summary["do_nothing"]["mean"] < summary["random"]["mean"] < summary["score"]["mean"]
    assert set(summary["by_config"]) == {lv.config for lv in MINI[:6]}
    saved = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert saved["score"] == summary["score"] and saved["mode"] == "global"


def test_online_solver_double_scores_100(tmp_path):
    backend = SolverBackend(mode="online")
    summary = run_eval(config(tmp_path, benchmark="magebench-sokoban:online", limit=3), backend=backend)
    rows = read_jsonl(tmp_path / "out" / "samples.jsonl")
    assert summary["score"]["mean"] == 100.0 and summary["success_rate"]["mean"] == 1.0
    assert all(r["turns"] == r["optimal_moves"] == r["steps"] for r in rows)
    assert {(k["temperature"], k["max_tokens"]) for k in backend.kwargs} == {(0.1, 300)}
    # One call per turn for every running episode; each call its own seed.
    assert backend.calls == max(r["turns"] for r in rows)
    assert len({k["seed"] for k in backend.kwargs}) == backend.calls


def test_online_turn_limit_and_compact_prompts(tmp_path):
    backend = SolverBackend(mode="online")
    summary = run_eval(config(tmp_path, benchmark="magebench-sokoban:online", limit=4, max_turns=2,
                              prompt_style="compact"), backend=backend)
    rows = read_jsonl(tmp_path / "out" / "samples.jsonl")
    assert all(r["turns"] == min(2, r["optimal_moves"]) for r in rows)
    assert summary["prompt_style"] == "compact" and summary["max_turns"] == 2


def test_kill_and_resume_loses_only_the_batch_in_flight(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run_eval(config(tmp_path, limit=10, samples=2, batch_size=3), backend=SolverBackend(fail_after=2))
    assert len(read_jsonl(tmp_path / "out" / "samples.jsonl")) == 6
    assert not (tmp_path / "out" / "summary.json").exists()
    with open(tmp_path / "out" / "samples.jsonl", "a") as f:
        f.write('{"problem_id": "x", "sam')  # a write cut off by the kill
    again = SolverBackend()
    summary = run_eval(config(tmp_path, limit=10, samples=2, batch_size=3), backend=again)
    rows = read_jsonl(tmp_path / "out" / "samples.jsonl")
    assert again.prompts == 20 - 6 and summary["generated_now"] == 14
    assert sorted((r["level"], r["sample"]) for r in rows) == sorted((lv.name, k) for lv in MINI[:10] for k in (0, 1))
    assert summary["score"]["mean"] == 100.0 and summary["episodes"] == 20
    # Nothing left: no backend needed; other settings are refused in one line.
    assert run_eval(config(tmp_path, limit=10, samples=2), backend=None)["generated_now"] == 0
    with pytest.raises(UserError, match="parser"):
        run_eval(config(tmp_path, limit=10, samples=2, parser="tolerant"), backend=SolverBackend())


@pytest.mark.parametrize("changes, message", [
    ({"benchmark": "magebench-sokoban:both"}, "magebench-sokoban:online"),
    ({"levels": "no/such/levels"}, "--levels"),
    ({"max_turns": 0}, "--max-turns"),
    ({"observation": "image"}, "text only"),
    ({"prompt_style": "think"}, "--prompt-style"),
    ({"prompt_style": "compact", "observation": "both", "backend": "openai"}, "compact"),
    ({"benchmark": "magebench-sokoban:"}, "magebench-sokoban:online"),
    ({"seed": -1}, "--seed"),
    ({"levels": " "}, "--levels"),
])
def test_bad_settings_are_one_line_errors(tmp_path, changes, message):
    with pytest.raises(UserError, match=message) as info:
        run_eval(config(tmp_path, **changes), backend=SolverBackend())
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_openai_backend_sends_the_scene_as_an_image_data_url(tmp_path):
    from PIL import Image

    plan = "### Analyze\nthe box is left\n### Actions\nLeft, Up"
    with FakeServer(reply=plan) as server:
        summary = run_eval(config(tmp_path, model="served", backend="openai", base_url=server.url, limit=2))
    body = server.requests[0][1]
    assert body["temperature"] == 0.1 and body["max_tokens"] == 1000 and body["frequency_penalty"] == 1.0
    system, user = body["messages"]
    assert system["role"] == "system" and "Sokoban" in system["content"]
    image, text = user["content"]
    assert image["type"] == "image_url" and text["type"] == "text" and "### Actions" in text["text"]
    url = image["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    png = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert max(png.size) == 640  # MageBench's resolution
    assert summary["observation"] == "image" and summary["parse_failures"] == 0
    rows = read_jsonl(tmp_path / "out" / "samples.jsonl")
    assert all(r["moves"][:2] == ["Left", "Up"] or r["success"] for r in rows)
    assert summary["generation"]["tokens"] == 10  # the server counts 5 per completion


@pytest.mark.slow
def test_embedded_model_plays_a_few_levels(tmp_path):
    for mode in ("global", "online"):
        out = tmp_path / mode
        summary = run_eval(EvalConfig(model="embedded", benchmark=f"magebench-sokoban:{mode}", limit=2,
                                      max_tokens=8, max_turns=2, out=str(out), progress=False))
        rows = read_jsonl(out / "samples.jsonl")
        assert len(rows) == 2 and summary["observation"] == "text" and summary["backend"] == "hf"
        assert all(r["score"] >= r["do_nothing_score"] for r in rows)
        assert all(len(r["replies"]) == r["turns"] == (1 if mode == "global" else 2) for r in rows)
        assert summary["generation"]["tokens"] is not None


def test_online_compact_episode_survives_a_run_of_unparsed_replies(tmp_path):
    """MageBench's window keeps the last 5 turn pairs; after 5 unparsed replies in a row (their "regenerate"
    turns carry no scene) it would hold no grid, and a compact prompt needs one: compact episodes keep it."""
    backend = SolverBackend(mode="online", bad={MINI[0].name})
    summary = run_eval(config(tmp_path, benchmark="magebench-sokoban:online", limit=1, max_turns=8,
                              prompt_style="compact"), backend=backend)
    row = read_jsonl(tmp_path / "out" / "samples.jsonl")[0]
    assert row["turns"] == 8 and row["parse_failures"] == 8 and summary["parse_failures"] == 8
    assert row["score"] == row["do_nothing_score"]


def test_rerun_after_the_weights_changed_is_refused(tmp_path):
    import os

    model = tmp_path / "model"
    model.mkdir()
    weights = model / "model.safetensors"
    weights.write_bytes(b"0")
    run_eval(config(tmp_path, model=str(model), limit=1), backend=SolverBackend())
    os.utime(weights, ns=(1, 1))  # retrained into the same folder
    with pytest.raises(UserError, match="other weights"):
        run_eval(config(tmp_path, model=str(model), limit=2), backend=SolverBackend())
