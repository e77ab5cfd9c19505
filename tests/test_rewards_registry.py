"""Registry: decorator, lookup, dotted path, entry points, weights, combine; TRL calling convention."""

import pickle
import subprocess
import sys
import textwrap

import pytest

import rewards
from rewards.registry import _REGISTRY

GT = "(1) Zoey is a knight\n(2) Oliver is a knave"
GOOD = "<think>Zoey says Oliver lies; if Zoey tells the truth then Oliver lies, which checks out.</think><answer>Zoey is a knight, Oliver is a knave</answer>"


@pytest.fixture
def clean_registry():
    before = dict(_REGISTRY)
    yield
    _REGISTRY.clear()
    _REGISTRY.update(before)


def test_builtins_registered():
    assert {"format", "kk", "math"} <= set(rewards.available())


def test_register_batch_function_with_options(clean_registry):
    @rewards.register("length_penalty")
    def length_penalty(prompts, completions, scale=1.0, **kwargs):
        return [-scale * len(c) for c in completions]

    reward = rewards.get("length_penalty", scale=0.5)
    assert reward(["p", "p"], ["ab", "abcd"]) == [-1.0, -2.0]
    assert reward.__name__ == "length_penalty"
    assert reward.breakdown(["p"], ["ab"]) == [{"reward": -1.0}]
    with pytest.raises(rewards.RewardConfigError, match="already registered"):
        rewards.register("length_penalty")(lambda prompts, completions, **kw: [])


def test_register_per_sample_gets_text_and_row(clean_registry):
    @rewards.register("mentions_answer", per_sample=True)
    def mentions_answer(completion, answer=None, prompt=None, bonus=1.0, **row):
        return bonus if answer in completion else 0.0

    reward = rewards.get("mentions_answer", bonus=2.0)
    chat = [[{"role": "assistant", "content": "it is 42"}], "no idea"]
    assert reward(["q", "q"], chat, answer=["42", "42"], trainer_state=None) == [2.0, 0.0]
    with pytest.raises(rewards.RewardConfigError, match="does not take"):
        rewards.register("strict_sig", per_sample=True)(lambda completion, answer: 1.0)
        rewards.get("strict_sig", colour="red")


def test_unknown_names_and_bad_paths():
    with pytest.raises(rewards.RewardConfigError, match="unknown reward 'nope'"):
        rewards.get("nope")
    with pytest.raises(rewards.RewardConfigError, match="cannot import"):
        rewards.get("no_such_module_xyz:fn")
    with pytest.raises(rewards.RewardConfigError, match="no attribute"):
        rewards.load("rewards.kk:nothing_here")
    with pytest.raises(rewards.RewardConfigError, match="weight"):
        rewards.from_config([{"name": "format", "weight": "high"}])


def test_load_by_dotted_path(tmp_path, monkeypatch):
    (tmp_path / "my_rewards_mod.py").write_text(textwrap.dedent("""
        def brevity(prompts, completions, **kwargs):
            return [1.0 if len(c) < 10 else 0.0 for c in completions]
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    reward = rewards.get("my_rewards_mod:brevity")
    assert reward(None, ["short", "much too long here"]) == [1.0, 0.0]
    assert reward.__name__ == "brevity"


def test_entry_point_group(tmp_path, monkeypatch, clean_registry):
    (tmp_path / "ep_rewards_pkg.py").write_text(textwrap.dedent("""
        def shout(prompts, completions, **kwargs):
            return [float(c.isupper()) for c in completions]
    """))
    dist = tmp_path / "ep_rewards_pkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-rewards-pkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[logicrl.rewards]\nshout = ep_rewards_pkg:shout\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reward = rewards.get("shout")
    assert reward(None, ["HEY", "hey"]) == [1.0, 0.0]


def test_from_config_and_combine():
    funcs, weights = rewards.from_config(["format", {"name": "kk", "preset": "partial", "weight": 0.5}])
    assert [f.__name__ for f in funcs] == ["format", "kk"] and weights == [1.0, 0.5]
    total = rewards.combine(["format", ({"name": "kk"}), (rewards.get("kk", preset="partial"), 0.5)])
    completions = [GOOD, "junk"]
    values = total(None, completions, solution_text_format=[GT, GT])
    assert values == [1.0 + 3.0 + 1.5, -1.0 - 3.0 - 1.5]
    row = total.breakdown(None, completions, solution_text_format=[GT, GT])[0]
    assert row["kk/answer"] == 2.0 and row["format/format"] == 1.0 and row["reward"] == 5.5
    assert total.__name__ == "format+kk+kk"


def test_combine_skips_none_parts():
    reward = rewards.combine([{"name": "kk", "preset": "partial"}, "format"])
    assert reward(None, [GOOD], solution_text_format=[None]) == [1.0]
    only_none = rewards.combine([{"name": "kk", "preset": "partial"}])
    assert only_none(None, [GOOD], solution_text_format=[None]) == [None]


def test_builtins_pickle_and_prompts_length_checked():
    kk = rewards.get("kk", preset="partial")
    clone = pickle.loads(pickle.dumps(kk))
    assert clone(None, [GOOD], solution_text_format=[GT]) == kk(None, [GOOD], solution_text_format=[GT])
    with pytest.raises(ValueError, match="prompts"):
        kk(["a", "b"], [GOOD], solution_text_format=[GT])
    with pytest.raises(ValueError, match="column"):
        kk(None, [GOOD], solution_text_format=[GT, GT])


def test_import_is_cheap_and_pure_python():
    code = "import sys, rewards; print(sorted(m for m in ('torch', 'transformers', 'logicrl', 'math_verify', 'sympy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
