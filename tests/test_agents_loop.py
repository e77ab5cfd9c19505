"""The Global and Online loops with scripted policies: a solver-driven policy scores 100, the Online
memory window and image limit, the regenerate message, batching, and MageBench's exact prompts."""

import base64
import io
import re

import pytest
from PIL import Image

from agents import AgentSettings, merge_roles, trim_memory
from agents.loop import CONTINUE_TEXT, INIT_SCENE_TEXT, REGENERATE_TEXT, Part, Scene
from agents.sokoban import (
    GLOBAL_FORMAT_PROMPT,
    ONLINE_FORMAT_PROMPT,
    SYSTEM_PROMPT,
    Level,
    generate_level,
    play,
    solve,
    summarize,
)
from agents.sokoban.prompts import TEXT_OBSERVATION_HEADER

LEVELS = [generate_level(c, s) for c, s in (("small-v0", 1), ("small-v1", 2), ("v0", 3), ("small-v0", 4))]
GRID = re.compile(re.escape(TEXT_OBSERVATION_HEADER) + r"\n((?:[ #@$.*+]*\n?)+)")


def text_of(message):
    c = message["content"]
    return c if isinstance(c, str) else "\n".join(p.get("text", "") for p in c if p["type"] == "text")


def latest_grid(conversation):
    for m in reversed(conversation):
        if m["role"] == "user":
            found = GRID.findall(text_of(m))
            if found:
                return Level(tuple(found[-1].rstrip("\n").split("\n")))
    raise AssertionError("no scene in the conversation")


def global_solver_policy(batch):
    out = []
    for conv in batch:
        moves = solve(latest_grid(conv))
        out.append("### Analyze\nSolved by search.\n### Actions\n" + ", ".join(moves))
    return out


def online_solver_policy(batch):
    return [f"# analyze\nsearch\n# action\n{solve(latest_grid(conv))[0]}" for conv in batch]


def test_global_solver_policy_scores_100_and_exact_prompt():
    seen = []

    def policy(batch):
        seen.append(batch)
        return global_solver_policy(batch)

    results = play(LEVELS, policy, AgentSettings(mode="global", observation="text"))
    assert len(seen) == 1 and len(seen[0]) == len(LEVELS)  # one batched call for every episode
    assert [r["score"] for r in results] == [100.0] * len(LEVELS)
    assert all(r["solved"] and r["steps"] == lv.optimal_moves for r, lv in zip(results, LEVELS))
    conv = seen[0][0]
    assert [m["role"] for m in conv] == ["system", "user"]
    assert conv[0]["content"] == SYSTEM_PROMPT
    assert text_of(conv[1]).endswith(GLOBAL_FORMAT_PROMPT)
    assert summarize(results)["score_mean"] == 100.0


def test_global_image_scene_extra_moves_and_parse_failures():
    seen = []

    def policy(batch):
        seen.append(batch)
        lv = LEVELS[0]
        return ["### Actions\n" + ", ".join(solve(lv) + ["Up", "Up"]),  # extra moves after the solve
                "### Actions\nup\ndown"]                                # magebench parses nothing
    results = play(LEVELS[:2], policy, AgentSettings(mode="global", resolution=320))
    assert results[0]["score"] == 100.0 and results[0]["steps"] == LEVELS[0].optimal_moves
    assert results[1]["parse_failures"] == 1 and results[1]["steps"] == 0
    assert results[1]["score"] == 100 - 5 * LEVELS[1].optimal_reward
    user = seen[0][0][1]["content"]
    assert [p["type"] for p in user] == ["image_url", "text"] and user[1]["text"] == GLOBAL_FORMAT_PROMPT
    url = user[0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size == (320, 320)


def test_online_solver_policy_scores_100_batched():
    sizes = []

    def policy(batch):
        sizes.append(len(batch))
        return online_solver_policy(batch)

    results = play(LEVELS, policy, AgentSettings(mode="online", observation="text"))
    assert [r["score"] for r in results] == [100.0] * len(LEVELS)
    assert [r["turns"] for r in results] == [lv.optimal_moves for lv in LEVELS]
    # one call per turn with every running episode; finished ones drop out
    assert sizes[0] == len(LEVELS) and sizes == sorted(sizes, reverse=True)
    assert len(sizes) == max(lv.optimal_moves for lv in LEVELS)


def test_online_memory_window_images_and_regenerate():
    lv = Level.from_xsb("; optimal_moves: 2\n#######\n#@ $ .#\n#######\n")
    seen = []
    script = ["no idea", "# action\nLeft"] + ["# action\nLeft"] * 20  # Left bumps a wall: no progress

    def policy(batch):
        seen.append(batch[0])
        return [script[len(seen) - 1]]

    settings = AgentSettings(mode="online", merge_roles=False, max_turns=9)
    results = play([lv], policy, settings)
    r = results[0]
    assert r["turns"] == 9 and r["parse_failures"] == 1 and r["steps"] == 8 and not r["solved"]
    for turn, conv in enumerate(seen, 1):
        assert conv[0] == {"role": "system", "content": SYSTEM_PROMPT}
        assert conv[1] == {"role": "user", "content": ONLINE_FORMAT_PROMPT}
        memory = conv[2:]
        assert len(memory) == min(2 * turn - 1, 10)          # last 2 * max_memory messages
        images = [i for i, m in enumerate(memory) if not isinstance(m["content"], str)
                  for p in m["content"] if p["type"] == "image_url"]
        assert len(images) == 1                              # at most the newest scene
        assert all(m["role"] == "user" for i, m in enumerate(memory) if i in images)
        newest_scene = max(i for i, m in enumerate(memory) if m["role"] == "user" and (
            not isinstance(m["content"], str) or INIT_SCENE_TEXT in m["content"]
            or CONTINUE_TEXT in m["content"]))
        assert images == [newest_scene]
    # turn 1: the initial scene; turn 2: the regenerate request after the bad reply (no new scene)
    assert text_of(seen[0][2]).endswith(INIT_SCENE_TEXT)
    assert [m["role"] for m in seen[1][2:]] == ["user", "assistant", "user"]
    assert seen[1][4] == {"role": "user", "content": REGENERATE_TEXT}
    assert isinstance(seen[1][2]["content"], list)           # the initial image is still the newest
    assert text_of(seen[2][6]).endswith(CONTINUE_TEXT) and isinstance(seen[2][6]["content"], list)
    # from turn 7 on the window starts with an assistant message; the initial scene has fallen out
    assert seen[6][2]["role"] == "assistant"
    assert all(INIT_SCENE_TEXT not in text_of(m) for m in seen[6])


def test_trim_memory_matches_magebench_rule():
    scene = Scene(png=b"x")
    mem = [("user", [Part(scene=scene), Part(text="init")])]
    for _ in range(7):
        mem += [("assistant", [Part(text="a")]), ("user", [Part(scene=scene), Part(text="c")])]
    out = trim_memory(mem, max_memory=5, max_images=2)
    assert len(out) == 10 and out[0][0] == "assistant"
    assert [sum(p.scene is not None for p in parts) for _, parts in out] == [0, 0, 0, 0, 0, 0, 0, 1, 0, 1]
    with pytest.raises(ValueError, match="max_images"):
        trim_memory([("user", [Part(scene=scene), Part(scene=scene)])], 5, 1)


def test_merge_roles_and_no_system_role():
    seen = []

    def policy(batch):
        seen.append(batch[0])
        return ["# action\nUp"]

    play(LEVELS[:1], policy, AgentSettings(mode="online", observation="text", max_turns=2, system_role=False))
    conv = seen[0]
    assert [m["role"] for m in conv] == ["user"]              # system folded in, then users merged
    assert text_of(conv[0]).startswith(SYSTEM_PROMPT) and ONLINE_FORMAT_PROMPT in text_of(conv[0])
    assert merge_roles([{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                        {"role": "assistant", "content": "c"}]) == [
        {"role": "user", "content": "a\nb"}, {"role": "assistant", "content": "c"}]


def test_settings_validation_and_generation_kwargs():
    assert AgentSettings(mode="global").generation_kwargs() == {
        "temperature": 0.1, "top_p": 0.95, "frequency_penalty": 1.0, "max_tokens": 1000}
    assert AgentSettings(mode="online").reply_tokens == 300
    for bad in ({"mode": "batch"}, {"parser": "nope"}, {"observation": "video"}, {"max_turns": 0}):
        with pytest.raises(ValueError):
            AgentSettings(**bad)

    def wrong(batch):
        return ["x"]

    with pytest.raises(ValueError, match="returned 1 replies for 2"):
        play(LEVELS[:2], wrong, AgentSettings())


def test_both_observations_send_image_and_grid():
    seen = []

    def policy(batch):
        seen.append(batch[0])
        return ["### Actions\n" + ", ".join(solve(latest_grid(batch[0])))]

    r = play(LEVELS[:1], policy, AgentSettings(observation="both", resolution=128))[0]
    assert r["score"] == 100.0
    parts = seen[0][1]["content"]
    assert [p["type"] for p in parts] == ["image_url", "text", "text"]
    assert parts[1]["text"] == TEXT_OBSERVATION_HEADER + "\n" + LEVELS[0].text_grid()


def test_batch_size_chunks_policy_calls():
    sizes = []

    def policy(batch):
        sizes.append(len(batch))
        return online_solver_policy(batch)

    results = play(LEVELS, policy, AgentSettings(mode="online", observation="text", batch_size=3))
    assert [r["score"] for r in results] == [100.0] * len(LEVELS)
    assert max(sizes) == 3 and sizes[:2] == [3, 1]
