"""Sokoban as an RL task (`data.kind: sokoban`, the `sokoban:` section of a recipe): levels, prompts, and
what the trainer needs for each mode.

- Global (`sokoban.mode: global`, single-turn): one prompt per level, MageBench's Global messages
  (`prompt_style: chat`) or the compact grid prompt (`compact`, `agents.sokoban.compact`); the
  registered `sokoban` reward replays the reply's plan on the row's level. Any algorithm, LoRA
  included: nothing here differs from K&K training but the data and the reward.
- Online (`sokoban.mode: online`, multi-turn), `sokoban.route`:
  - ``rollout_func``: `logicrl.training.rollout_agents.OnlineRollout` plays every episode turn by
    turn (MageBench's ``# action`` replies; the environment decides each next message and the end)
    and hands TRL one sequence per episode with an ``env_mask`` that keeps the environment's tokens
    out of the loss; the `sokoban` reward returns the episode's score.
  - ``environment_factory``: `agents.sokoban.tools.SokobanToolEnv` through TRL's tool calling (each
    move a call of its `move` tool; `get_reward` the score), for models whose chat template has
    tool calls.

Dataset columns: ``prompt``, ``level`` (XSB text with the optimal moves recorded: what the reward and
the environments read), ``config``, ``optimal_moves``.
"""

from __future__ import annotations

from pathlib import Path

from logicrl.errors import UserError

TOOL_SYSTEM_PROMPT = ("You play Sokoban on a text grid: # wall, @ you, $ box, . target, * box on a target, + you on "
                      "a target, space floor. Moving into a box pushes it one cell if the cell beyond is free; a box "
                      "cannot push another box.")
"""The system message of the environment_factory route (MageBench's describes its images, not text grids)."""
TOOL_PROMPT = ("Push every box onto a target. Call the move tool once per move, with the direction Up, Down, "
               "Left or Right; each call answers with the new scene.")
"""The user message of the environment_factory route (the environment's `reset` appends the scene)."""


def load_levels(config) -> list:
    """Training levels: the XSB file or folder of `data.path`, or `data.count` generated levels per
    configuration of `sokoban.configs` (seeded by `data.seed`; names ``NNN-<config>``)."""
    from agents.sokoban import LevelError, generate_levels, load_levels

    d = config.data
    if d.path:
        try:
            return load_levels(d.path)
        except LevelError as exc:
            raise UserError(f"config field data.path: {exc}") from None
    return generate_levels({c: d.count for c in config.sokoban.configs}, seed=d.seed)


def agent_settings(config):
    """The `agents.AgentSettings` whose prompts the recipe trains on (text observations: the trainer's
    models read text)."""
    from agents import AgentSettings

    s = config.sokoban
    return AgentSettings(mode=s.mode, parser=s.parser, observation="text", max_turns=s.max_turns)


def prompt_for(level, config):
    """The prompt of one level: MageBench's first conversation (chat), the compact grid prompt, or the
    tool route's messages."""
    from agents.loop import first_conversation
    from agents.sokoban import SokobanEpisode
    from agents.sokoban.compact import compact_prompt

    s, style = config.sokoban, config.data.prompt_style
    if s.mode == "online" and s.route == "environment_factory":
        return [{"role": "system", "content": TOOL_SYSTEM_PROMPT}, {"role": "user", "content": TOOL_PROMPT}]
    if style == "compact":
        return compact_prompt(level, s.mode)
    return first_conversation(SokobanEpisode(level), agent_settings(config))


def sokoban_rows(levels, config) -> list[dict]:
    """One dataset row per level: the prompt and the columns the reward and the environments read."""
    return [{"prompt": prompt_for(lv, config), "level": lv.to_xsb(), "config": lv.config or "",
             "optimal_moves": int(lv.optimal_moves)} for lv in levels]


def build_sokoban_dataset(config):
    """(datasets.Dataset, levels). Raises UserError when no level can be read (the prompt style is checked
    against the tokenizer by `logicrl.training.data.check_chat_template`)."""
    import datasets

    levels = load_levels(config)
    if not levels:
        raise UserError("config field data: no training levels")
    return datasets.Dataset.from_list(sokoban_rows(levels, config)), levels


def trainer_kwargs(config, tokenizer, levels) -> dict:
    """What `GRPOTrainer` needs beyond the defaults for the recipe's Sokoban mode: {} for Global,
    {"rollout_func": ...} or {"environment_factory": ...} for Online."""
    s = config.sokoban
    if s.mode == "global":
        return {}
    if s.route == "environment_factory":
        import functools

        from agents.sokoban.tools import SokobanToolEnv
        from logicrl.trl_compat import supports_tool_calling

        if not supports_tool_calling(tokenizer):
            raise UserError(f"config field sokoban.route: environment_factory needs a chat template that renders tool "
                            f"calls, and the one of {config.model} does not; use route: rollout_func")

        return {"environment_factory": functools.partial(SokobanToolEnv, scale=reward_scale(config))}
    from logicrl.training.rollout_agents import OnlineRollout

    return {"rollout_func": OnlineRollout(levels, tokenizer, agent_settings(config), style=config.data.prompt_style,
                                          turn_tokens=s.turn_tokens)}


def reward_scale(config) -> str:
    """The `scale` option of the recipe's `sokoban` reward ("score" when it sets none)."""
    for spec in config.rewards:
        if spec.get("name") == "sokoban":
            return spec.get("scale", "score")
    return "score"


def validate(c, require) -> None:
    """The recipe checks of `data.kind: sokoban` (`require(ok, message)` raises UserError)."""
    from agents.parsing import parser_names
    from agents.sokoban import CONFIGS

    s, d = c.sokoban, c.data
    require(s.mode in ("global", "online"), f"config field sokoban.mode: {s.mode!r} is not global or online")
    require(s.route in ("rollout_func", "environment_factory"),
            f"config field sokoban.route: {s.route!r} is not rollout_func or environment_factory")
    require(bool(s.configs) and all(name.removeprefix("Sokoban-") in CONFIGS for name in s.configs),
            f"config field sokoban.configs: {s.configs} must name configurations among {', '.join(CONFIGS)}")
    require(s.parser in parser_names(), f"config field sokoban.parser: {s.parser!r} is not one of "
                                         f"{', '.join(parser_names())}")
    require(d.prompt_style in ("chat", "compact"),
            f"config field data.prompt_style: Sokoban prompts are chat or compact, not {d.prompt_style!r}")
    require(not (s.mode == "online" and s.route == "environment_factory" and d.prompt_style != "chat"),
            "config field data.prompt_style: the environment_factory route needs chat prompts (tool calls)")
    require(d.path is None or Path(d.path).exists(), f"config field data.path: not found: {d.path}")
    require(c.warm_start.steps == 0, "config field warm_start.steps: the recipe's warm start is K&K only; "
                                     "warm-start a Sokoban model first (logicrl demo --task sokoban does)")
    require(c.curriculum.mode == "none", "config field curriculum.mode: the curriculum is over K&K sizes; "
                                         "use none for Sokoban")
    require(c.heldout.every_n_steps == 0, "config field heldout.every_n_steps: held-out evaluation during "
                                          "training is K&K only; use logicrl eval --benchmark magebench-sokoban")
    require(not (s.mode == "online" and c.rollout_backend != "hf"),
            f"config field rollout_backend: Online Sokoban rollouts generate with the trained model itself "
            f"(hf), not {c.rollout_backend}")
