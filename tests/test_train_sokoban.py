"""RL on Sokoban: the data kind's rows, the Online rollout function (a solver-driven model scores 100,
environment tokens masked), Global training with LoRA, Online training through `rollout_func` and through
`environment_factory` with a tool-calling template, and the recipe checks."""

from __future__ import annotations

import math
import types

import pytest
import torch

import rewards
from agents import AgentSettings
from agents.loop import first_conversation
from agents.sokoban import Level, SokobanEpisode, generate_level, lurd_to_moves, solve
from agents.sokoban.compact import HEADINGS, compact_prompt, scene_grid
from logicrl.config import load_config
from logicrl.errors import UserError
from logicrl.training.callbacks import read_metrics
from logicrl.training.rollout_agents import OnlineRollout
from logicrl.training.sokoban import build_sokoban_dataset

LEVELS = [generate_level("small-v0", s, name=f"L{s}") for s in range(3)]


def recipe(tmp_path, **changes):
    base = {"model": "embedded", "output_dir": str(tmp_path / "run"), "max_steps": 2, "per_device_train_batch_size": 4,
            "num_generations": 2, "max_completion_length": 16, "learning_rate": 5e-3, "temperature": 1.0,
            "save_steps": 100, "progress_bar": False, "plot": False, "seed": 0,
            "data": {"kind": "sokoban", "count": 4, "prompt_style": "compact"},
            "rewards": [{"name": "sokoban", "scale": "unit"}]}
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return load_config(base)


@pytest.fixture(scope="module")
def tokenizer():
    from logicrl.models import load_tokenizer

    return load_tokenizer("embedded")


def test_rows_carry_the_eval_prompts_and_the_level(tmp_path, tokenizer):
    for mode in ("global", "online"):
        config = recipe(tmp_path, data={"prompt_style": "chat"}, sokoban={"mode": mode})
        dataset, levels = build_sokoban_dataset(config)
        assert len(dataset) == len(levels) == 4 and all(lv.config == "small-v0" for lv in levels)
        row = dataset[0]
        settings = AgentSettings(mode=mode, observation="text")
        assert row["prompt"] == first_conversation(SokobanEpisode(levels[0]), settings)
        assert Level.from_xsb(row["level"]) == levels[0] and row["optimal_moves"] == levels[0].optimal_moves
    compact, levels = build_sokoban_dataset(recipe(tmp_path))
    assert compact[0]["prompt"] == compact_prompt(levels[0], "global")
    # The reward of the optimal plan is 1 (scale unit), of no plan 0.
    fn = rewards.get("sokoban", scale="unit")
    plans = [", ".join(lurd_to_moves(lv.solution)) for lv in levels]
    assert fn(compact["prompt"], plans, level=compact["level"]) == [1.0] * 4
    assert fn(compact["prompt"], ["Up, Up"] * 4, level=compact["level"])[0] < 1.0


def test_first_conversation_is_what_the_loops_send():
    from agents.sokoban import play

    for mode in ("global", "online"):
        settings = AgentSettings(mode=mode, observation="text", max_turns=1)
        seen: list = []

        def policy(batch, seen=seen):
            seen.extend(batch)
            return ["x"] * len(batch)

        play(LEVELS[:1], policy, settings)
        assert seen[0] == first_conversation(SokobanEpisode(LEVELS[0]), settings)


class SolverModel(torch.nn.Module):
    """Stands in for the policy: reads the newest grid of each sequence and answers the next optimal move
    in MageBench's Online format (or, `bad` times first, a reply no parser reads)."""

    def __init__(self, tokenizer, compact: bool, bad: int = 0):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.tok, self.compact, self.bad = tokenizer, compact, bad
        self.config = types.SimpleNamespace(max_position_embeddings=4096)
        self.generation_config = types.SimpleNamespace(eos_token_id=tokenizer.eos_token_id)
        self.calls = 0

    def generate(self, input_ids, attention_mask, max_new_tokens, pad_token_id, **kwargs):
        self.calls += 1
        rows = []
        for ids, m in zip(input_ids.tolist(), attention_mask.tolist()):
            text = self.tok.decode([t for t, k in zip(ids, m) if k], skip_special_tokens=True)
            if self.compact:  # the grid lines just before the last heading
                lines, found = text.rsplit(HEADINGS["online"], 1)[0].rstrip("\n").split("\n"), []
                for line in reversed(lines):
                    if not line or set(line) - set("#@$.*+ "):
                        break
                    found.insert(0, line)
                grid = "\n".join(found)
            else:
                grid = scene_grid([{"role": "user", "content": text}])
            move = solve(Level(tuple(grid.split("\n"))))[0]
            reply = "no idea" if self.calls <= self.bad else (move if self.compact else f"# analyze\nok\n# action\n{move}")
            rows.append(self.tok(reply, add_special_tokens=False)["input_ids"] + [self.tok.eos_token_id])
        width = max(len(r) for r in rows)
        new = torch.tensor([r + [pad_token_id] * (width - len(r)) for r in rows])
        return torch.cat([input_ids, new], dim=1)


def fake_trainer(model, budget=4000):
    """What OnlineRollout reads of a GRPOTrainer."""
    from collections import defaultdict

    return types.SimpleNamespace(
        args=types.SimpleNamespace(temperature=1.0, top_p=1.0, bf16=False), max_completion_length=budget,
        accelerator=types.SimpleNamespace(unwrap_model=lambda m: m), model=model,
        _metrics={"train": defaultdict(list)})


@pytest.mark.parametrize("style", ["chat", "compact"])
def test_online_rollout_with_a_solver_model_scores_100(tokenizer, style):
    settings = AgentSettings(mode="online", observation="text", max_turns=50)
    rollout = OnlineRollout(LEVELS, tokenizer, settings, style=style, turn_tokens=64)
    model = SolverModel(tokenizer, compact=style == "compact", bad=1)
    trainer = fake_trainer(model)
    prompts = [first_conversation(SokobanEpisode(lv), settings) if style == "chat" else compact_prompt(lv, "online")
               for lv in LEVELS]
    out = rollout(prompts, trainer)
    assert out["sokoban_score"] == [100.0] * 3 and all(out["sokoban_solved"])
    assert out["sokoban_parse_failures"] == [1] * 3  # the first reply did not parse
    assert out["sokoban_steps"] == [lv.optimal_moves for lv in LEVELS]
    eos = tokenizer.eos_token_id
    for ids, mask, lv in zip(out["completion_ids"], out["env_mask"], LEVELS):
        assert len(ids) == len(mask) and ids[-1] == eos and mask[-1] == 1  # ends on the model's last reply
        model_text = tokenizer.decode([t for t, m in zip(ids, mask) if m], skip_special_tokens=True)
        env_text = tokenizer.decode([t for t, m in zip(ids, mask) if not m], skip_special_tokens=True)
        assert model_text.count("no idea") == 1 and "#" not in model_text.replace("# action", "").replace(
            "# analyze", "")
        moves = solve(lv)
        if style == "chat":
            assert env_text.count("Please continue to act") == len(moves) - 1
            assert env_text.count("Please regenerate") == 1
        else:
            assert env_text.count(HEADINGS["online"].strip()) == len(moves)
    # The reward reads the episode's result from the rollout's columns.
    fn = rewards.get("sokoban", scale="unit")
    columns = {k: v for k, v in out.items() if k.startswith("sokoban_")}
    assert fn(prompts, ["(ignored)"] * 3, level=[lv.to_xsb() for lv in LEVELS], **columns) == [1.0] * 3
    assert trainer._metrics["train"]["rollout/episode_score"] == [100.0]


def test_online_rollout_stops_at_the_budget(tokenizer):
    settings = AgentSettings(mode="online", observation="text", max_turns=50)
    rollout = OnlineRollout(LEVELS[:1], tokenizer, settings, style="compact", turn_tokens=8)
    model = SolverModel(tokenizer, compact=True)
    out = rollout([compact_prompt(LEVELS[0], "online")], fake_trainer(model, budget=100))
    # A turn is a move (2-3 tokens) and the next grid (about 60): two turns fit in 100 tokens.
    assert len(out["completion_ids"][0]) <= 100 and out["env_mask"][0][-1] == 1
    assert out["sokoban_steps"][0] == 2 < LEVELS[0].optimal_moves


def _params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.slow
def test_global_training_with_lora(tmp_path):
    import logicrl

    config = recipe(tmp_path, lora={"enabled": True, "r": 4}, algorithm="reinforce_pp")
    result = logicrl.train(config)
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    scored = [r for r in rows if "sokoban/score" in r]
    assert result.global_step == 2 and len(scored) == 2
    assert all(34 <= r["sokoban/score"] <= 100 and 0 <= r["accuracy"] <= 1 for r in scored)
    assert all(math.isfinite(r["loss"]) for r in rows if "loss" in r)
    assert (tmp_path / "run" / "final" / "adapter_config.json").is_file()


@pytest.mark.slow
def test_online_training_through_rollout_func(tmp_path, monkeypatch):
    from logicrl.training.build import build_trainer
    from logicrl.trl_compat import LogicRLTrainer

    masks = []
    original = LogicRLTrainer.score_advantages

    def spy(self, output):
        masks.append((output["completion_mask"].clone(), output.get("tool_mask")))
        return original(self, output)

    monkeypatch.setattr(LogicRLTrainer, "score_advantages", spy)

    # A random-init model almost never writes a move, so every episode scores as doing nothing and GRPO's
    # advantages are all zero; a small second reward (shorter completions score higher) gives the groups
    # the spread that makes the loss move the weights through the masked multi-turn sequences.
    @rewards.register("test_shorter", per_sample=True, overwrite=True)
    def shorter(completion, **row):
        return -len(completion) / 1000

    config = recipe(tmp_path, data={"prompt_style": "chat", "count": 2}, max_completion_length=120,
                    sokoban={"mode": "online", "max_turns": 3, "turn_tokens": 6},
                    rewards=[{"name": "sokoban", "scale": "unit"}, {"name": "test_shorter", "weight": 0.1}])
    trainer, run_dir = build_trainer(config)
    before = _params(trainer.model)
    trainer.train()
    after = _params(trainer.model)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    rows = read_metrics(run_dir / "metrics.jsonl")
    steps = [r for r in rows if "rollout/episode_score" in r]
    assert len(steps) == 2 and all(34 <= r["rollout/episode_score"] <= 100 for r in steps)
    assert all(0 < r["rollout/env_token_fraction"] < 1 for r in steps)
    assert all(math.isfinite(r["loss"]) for r in rows if "loss" in r)
    # TRL received the environment mask: environment tokens (0) are out of the loss.
    completion_mask, tool_mask = masks[0]
    assert tool_mask is not None and tool_mask.shape == completion_mask.shape
    assert ((completion_mask * tool_mask).sum() < completion_mask.sum()).item()


def test_example_recipe_loads():
    from pathlib import Path

    config = load_config(Path(__file__).resolve().parents[1] / "examples" / "sokoban_lora.yaml")
    assert config.data.kind == "sokoban" and config.sokoban.configs == ["small-v0", "small-v1", "v0"]
    assert config.rewards == [{"name": "sokoban", "scale": "unit", "parser": "magebench"}]


@pytest.mark.parametrize("changes, message", [
    ({"sokoban": {"mode": "both"}}, "sokoban.mode"),
    ({"sokoban": {"configs": ["tiny"]}}, "sokoban.configs"),
    ({"sokoban": {"route": "tools"}}, "sokoban.route"),
    ({"data": {"prompt_style": "base"}}, "data.prompt_style"),
    ({"heldout": {"every_n_steps": 5}}, "heldout.every_n_steps"),
    ({"warm_start": {"steps": 5}}, "warm_start.steps"),
    ({"sokoban": {"mode": "online", "route": "environment_factory"}}, "environment_factory"),
    ({"rewards": [{"name": "sokoban", "scale": "log"}]}, None),
])
def test_recipe_errors(tmp_path, changes, message):
    if message is None:  # reward options fail when the rewards are built (before the model loads)
        from logicrl.training.rewards import build_rewards

        with pytest.raises(UserError, match="scale"):
            build_rewards(recipe(tmp_path, **changes))
        return
    with pytest.raises(UserError, match=message):
        recipe(tmp_path, **changes)


def tool_model(folder, levels):
    """A tiny Phi-3 model and a tokenizer with a tool-calling chat template (TRL's copy of Qwen2.5's), whose
    four `move` calls are one added token each; a few supervised steps teach it to answer every prompt with
    one of them, so that its rollouts call the environment's tool."""
    import random

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AddedToken, Phi3Config, Phi3ForCausalLM, PreTrainedTokenizerFast
    from trl.chat_template_utils import qwen2_5_chat_template

    from agents.sokoban.tools import SokobanToolEnv
    from logicrl.training.sokoban import prompt_for

    env = SokobanToolEnv()
    calls = [f'<tool_call>\n{{"name": "move", "arguments": {{"direction": "{d}"}}}}\n</tool_call>'
             for d in ("Up", "Down", "Left", "Right")]

    def conversation(lv):
        system, user = prompt_for(lv, types.SimpleNamespace(
            sokoban=types.SimpleNamespace(mode="online", route="environment_factory"),
            data=types.SimpleNamespace(prompt_style="chat")))
        return [system, {**user, "content": user["content"] + env.reset(level=lv.to_xsb())}]

    plain = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE()), chat_template=qwen2_5_chat_template)
    corpus = [plain.apply_chat_template(conversation(lv), tools=[env.move], tokenize=False, add_generation_prompt=True)
              for lv in levels]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=1000, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                  additional_special_tokens=["<|im_start|>"], chat_template=qwen2_5_chat_template)
    tok.add_tokens([AddedToken(c, normalized=False) for c in calls])
    call_ids = [tok.convert_tokens_to_ids(c) for c in calls]
    config = Phi3Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=1024,
                        pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.pad_token_id,
                        tie_word_embeddings=True)
    torch.manual_seed(0)
    model = Phi3ForCausalLM(config)
    rng = random.Random(0)
    prompts = [tok.apply_chat_template(conversation(lv), tools=[env.move], tokenize=True, add_generation_prompt=True,
                                       return_dict=False) for lv in levels]
    rows = [(p, [call_ids[rng.randrange(4)], tok.eos_token_id]) for p in prompts for _ in range(2)]
    width = max(len(p) for p, _ in rows) + 2
    x = torch.tensor([[tok.pad_token_id] * (width - len(p) - 2) + p + t for p, t in rows])
    labels = torch.tensor([[-100] * (width - 2) + t for _, t in rows])
    attention = torch.tensor([[0] * (width - len(p) - 2) + [1] * (len(p) + 2) for p, _ in rows])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(12):
        model(input_ids=x, attention_mask=attention, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_online_training_through_environment_factory(tmp_path):
    from agents.sokoban import load_levels
    from logicrl.training.build import build_trainer

    # One push solves each level (Right, Down): a group of four random calls usually holds both outcomes,
    # 100 and doing nothing, so the advantages are not all zero.
    (tmp_path / "one-push.xsb").write_text("#####\n#@$.#\n#####\n\n###\n#@#\n#$#\n#.#\n###\n")
    levels = load_levels(tmp_path / "one-push.xsb")
    model_dir = tool_model(tmp_path / "tool-model", levels)
    config = recipe(tmp_path, model=str(model_dir), max_completion_length=48, per_device_train_batch_size=8,
                    num_generations=4,
                    data={"prompt_style": "chat", "path": str(tmp_path / "one-push.xsb")},
                    sokoban={"mode": "online", "route": "environment_factory"},
                    trl={"max_tool_calling_iterations": 3})
    trainer, run_dir = build_trainer(config)
    before = _params(trainer.model)
    trainer.train()
    after = _params(trainer.model)
    rows = read_metrics(run_dir / "metrics.jsonl")
    steps = [r for r in rows if "tools/call_frequency" in r]
    assert len(steps) == 2 and all(r["tools/call_frequency"] > 0 for r in steps)
    # The environment's get_reward is the reward (TRL logs it under the class name); ours logs the episode.
    assert all("rewards/SokobanToolEnv/mean" in r and "sokoban/steps" in r for r in steps)
    assert max(r["sokoban/steps"] for r in steps) > 0 and max(r["sokoban/solved"] for r in steps) > 0
    assert max(r["rewards/SokobanToolEnv/mean"] for r in steps) > 0  # scale unit: 1 when solved
    assert all(math.isfinite(r["loss"]) for r in rows if "loss" in r)
    assert any(not torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("changes, message", [
    # a reward that cannot read Sokoban rows: found on one row before the model loads, not at step 1
    ({"rewards": [{"name": "kk"}]}, "rewards\\[0\\]: reward 'kk' cannot score this data \\(data.kind sokoban\\)"),
    # the embedded tokenizer's chat template renders no tool calls
    ({"data": {"prompt_style": "chat"}, "sokoban": {"mode": "online", "route": "environment_factory"}},
     "sokoban.route: environment_factory needs a chat template that renders tool calls"),
])
def test_data_and_model_misfits_are_one_line_errors_that_leave_nothing(tmp_path, changes, message):
    from logicrl import train

    with pytest.raises(UserError, match=message) as info:
        train(recipe(tmp_path, **changes))
    assert "\n" not in str(info.value)
    assert not (tmp_path / "run").exists()  # the run folder opened for it is gone again
