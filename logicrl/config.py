"""The training recipe: one dataclass per section, loaded from YAML with `a.b=value` overrides.

Validation happens here, before any model or data is touched: an unknown field, a value of the wrong
type or outside its allowed set raises `UserError` with a one-line message naming the field.
TRL's own `GRPOConfig` fields that have no explicit field here go in the `trl:` section unchanged.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logicrl.errors import UserError, first_line
from logicrl.ray.settings import RaySettings

ROLLOUT_BACKENDS = ("hf", "vllm", "vllm_lora")
LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo")


@dataclass
class LoraSettings:
    """LoRA adapters through peft (off by default: full fine-tuning)."""

    enabled: bool = False
    """Train LoRA adapters instead of all weights."""

    r: int = 16
    """Adapter rank."""

    alpha: int = 32
    """LoRA scaling numerator (`lora_alpha`)."""

    dropout: float = 0.05
    """Dropout on the adapter input."""

    target_modules: list[str] | None = None
    """Module names to adapt; None: `logicrl.models.default_lora_targets(model)` (Phi-3: qkv_proj, o_proj,
    gate_up_proj, down_proj)."""

    merge_at_end: bool = False
    """Also write the adapter merged into the base weights to `<output_dir>/merged` at the end."""


@dataclass
class DataSettings:
    """Where the training prompts come from."""

    kind: str = "kk"
    """"kk" (Knights-and-Knaves puzzles), "math" (JSONL with `problem` and `answer`) or "sokoban" (MageBench's
    Sokoban levels; the `sokoban:` section)."""

    path: str | None = None
    """Load the data from this file (K&K: .jsonl/.parquet via `puzzles.load_kk`; math: JSONL; sokoban: an XSB
    file or folder) instead of generating puzzles or levels."""

    people: list[int] = field(default_factory=lambda: [3])
    """K&K: numbers of people to generate puzzles for (a mix when several; a curriculum draws from these)."""

    count: int = 200
    """K&K: puzzles generated per number of people; sokoban: levels generated per configuration."""

    seed: int = 0
    """Seed of the puzzle (or level) generator (the same seed gives the same data)."""

    names: list[str] | None = None
    """K&K: fixed names for generated puzzles (person i of every puzzle gets names[i]); None draws names
    from the generator's pool. Held-out puzzles and `logicrl eval` on the trained model use them too. A
    1M-parameter model cannot learn to copy names in minutes, so the CPU demo fixes three."""

    depth: int = 2
    """K&K: statement nesting depth of generated puzzles."""

    width: int = 2
    """K&K: largest and/or width of generated statements."""

    prompt_style: str = "chat"
    """"chat" (messages through the tokenizer's chat template), "base" ("User: ... Assistant: <think>") or
    "compact" (the quiz text only, with the demo's compact trace format for the warm start; sokoban: the
    grid and the actions heading, `agents.sokoban.compact`). Sokoban: chat is MageBench's own messages."""


@dataclass
class SokobanSettings:
    """MageBench's Sokoban as an RL task (`data.kind: sokoban`; see `logicrl.training.sokoban`)."""

    mode: str = "global"
    """"global": one reply per level, a whole plan, scored by the `sokoban` reward (single-turn; any algorithm,
    LoRA included). "online": one move per turn, the episode played turn by turn during the rollout."""

    configs: list[str] = field(default_factory=lambda: ["small-v0"])
    """Configurations of the generated levels (`data.count` each, seed `data.seed`): small-v0, small-v1, v0, v1,
    v2, large-v0, large-v1, huge-v0. Ignored when `data.path` names level files."""

    route: str = "rollout_func"
    """Online: "rollout_func" (MageBench's `# action` replies, generated turn by turn; the environment's text is
    masked out of the loss) or "environment_factory" (each move a call of a `move` tool through TRL's tool
    calling; needs a chat template with tool calls)."""

    max_turns: int = 10
    """Online: most turns (model replies) per episode (MageBench: 50). Every turn's reply and the next scene
    must fit `max_completion_length` together with the earlier ones; an episode stops when they do not."""

    turn_tokens: int = 32
    """Online, rollout_func: most tokens of one reply (MageBench: 300)."""

    parser: str = "magebench"
    """Online, rollout_func: the reply parser ("magebench" or "tolerant"; Global: the reward's `parser`)."""


@dataclass
class CurriculumSettings:
    """Curriculum over the number of people: easy puzzles first."""

    mode: str = "none"
    """"none" (sample all of `data.people`), "schedule" (advance every `steps_per_level` steps) or
    "threshold" (advance when training accuracy over `window` logged steps reaches `threshold`)."""

    levels: list[int] = field(default_factory=lambda: [3, 4, 5, 6, 7])
    """Numbers of people, in order. Must be a subset of `data.people` (generated data) or present in the file."""

    steps_per_level: int = 50
    """Schedule mode: optimizer steps spent on each level."""

    threshold: float = 0.8
    """Threshold mode: accuracy (fraction of fully correct answers) that moves to the next level."""

    window: int = 5
    """Threshold mode: number of logged steps whose mean accuracy is compared with the threshold."""

    mix_previous: float = 0.0
    """Fraction of each batch drawn from earlier (easier) levels, to avoid forgetting."""


@dataclass
class WarmStartSettings:
    """Supervised warm start on the puzzles' reasoning traces (TRL SFTTrainer) before RL."""

    steps: int = 0
    """SFT optimizer steps (0 = no warm start)."""

    learning_rate: float = 1e-4
    """SFT learning rate."""

    batch_size: int = 8
    """SFT per-device batch size."""

    count: int = 0
    """Trace examples to generate per number of people (0 = reuse the RL puzzles)."""


@dataclass
class PPOSettings:
    """PPO-only settings (algorithm: ppo)."""

    gamma: float = 1.0
    """Discount factor of the returns."""

    lam: float = 0.95
    """GAE lambda."""

    vf_coef: float = 0.1
    """Weight of the value loss in the total loss."""

    cliprange_value: float = 0.2
    """Clip range of the value-function update around the rollout-time values."""

    value_learning_rate: float | None = None
    """Learning rate of the value head (None: the policy learning rate x 10)."""

    whiten_advantages: bool = True
    """Whiten GAE advantages over the batch's completion tokens."""


@dataclass
class HeldoutSettings:
    """Periodic evaluation on held-out puzzles (greedy, accuracy by number of people)."""

    every_n_steps: int = 0
    """Evaluate every N optimizer steps and at the end (0 = never)."""

    people: list[int] = field(default_factory=lambda: [3])
    """Numbers of people in the held-out set."""

    count: int = 20
    """Held-out puzzles per number of people."""

    seed: int = 10_000
    """Seed of the held-out puzzles (keep it away from `data.seed`)."""

    max_new_tokens: int = 256
    """Generation budget per held-out answer."""

    at_start: bool = True
    """Also evaluate before the first step (step 0: the starting point of the curves)."""


@dataclass
class TrainConfig:
    """A complete RL training recipe (`logicrl train --config RECIPE.yaml`)."""

    model: str = "embedded"
    """Hugging Face causal LM: "embedded" (the locally built default), a local path or a hub id."""

    adapter: str | None = None
    """A LoRA adapter directory to start from (loaded on top of `model`)."""

    output_dir: str = "runs/train"
    """Run directory: checkpoints, metrics.jsonl, curves.png, the final model."""

    resume: str | None = None
    """Continue from a checkpoint: "last" (the newest in output_dir) or a checkpoint directory."""

    algorithm: str = "grpo"
    """The advantage estimator: "grpo" (group-relative), "reinforce_pp" (REINFORCE++, Logic-RL), "ppo" (value
    head + GAE), any name registered with `logicrl.algorithms.register_advantage_estimator`, a
    "package.module:function" path or an entry point of the group `logicrl.algorithms`."""

    loss_type: str | None = None
    """Policy-loss aggregation, one of TRL's loss types (grpo, dr_grpo, dapo, bnpo, ...). None: TRL's
    default for grpo ("dapo"), token-level "bnpo" for reinforce_pp and ppo."""

    scale_rewards: str = "group"
    """GRPO only: advantage scaling "group", "batch" or "none" (Dr. GRPO uses "none")."""

    rollout_backend: str = "hf"
    """"hf" (transformers generate), "vllm" (TRL's vLLM integration) or "vllm_lora" (adapter-sync
    rollouts through `logicrl.training.rollout_vllm`). vLLM needs the `gpu` extra."""

    vllm_mode: str = "colocate"
    """vLLM placement for rollout_backend "vllm": "colocate" (same GPU) or "server" (`trl vllm-serve`)."""

    vllm_gpu_memory_utilization: float = 0.3
    """Fraction of GPU memory vLLM may take in colocate mode."""

    learning_rate: float = 1e-6
    """Policy learning rate."""

    max_steps: int = 20
    """Optimizer steps of RL."""

    per_device_train_batch_size: int = 8
    """Completions per device per micro-step (TRL semantics: a multiple of the prompts' groups)."""

    gradient_accumulation_steps: int = 1
    """Micro-steps per optimizer step."""

    num_generations: int = 4
    """Rollouts per prompt (the group size)."""

    max_completion_length: int = 256
    """Longest generated answer, in tokens."""

    temperature: float = 1.0
    """Sampling temperature of the rollouts."""

    top_p: float = 1.0
    """Nucleus sampling of the rollouts."""

    beta: float | None = None
    """KL coefficient against the reference model. None: 0.0 for grpo, 0.001 for reinforce_pp and ppo."""

    epsilon: float = 0.2
    """Clip range of the policy ratio."""

    num_iterations: int = 1
    """Optimisation passes over each generated batch."""

    warmup_ratio: float = 0.0
    """Linear warm-up of the learning rate, as a fraction of max_steps."""

    lr_scheduler_type: str = "constant"
    """transformers scheduler name ("constant", "linear", "cosine", ...)."""

    max_grad_norm: float = 1.0
    """Gradient clipping norm."""

    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass (saves memory on large models)."""

    bf16: bool | None = None
    """bfloat16 mixed precision (float32 weights, bfloat16 compute; also the warm start's). None: on when a
    CUDA GPU with bf16 is present, off on CPU. true on CPU needs native bf16 (avx512_bf16 or amx_bf16): about
    1.5-2x less compute there than float32 (measured on the embedded model), else a one-line error."""

    seed: int = 0
    """Seed of sampling, shuffling and initialisation."""

    logging_steps: int = 1
    """Log (metrics.jsonl, progress bar, report_to) every N optimizer steps."""

    save_steps: int = 50
    """Checkpoint every N optimizer steps (`--resume` continues from the last one)."""

    save_total_limit: int | None = 2
    """Keep at most this many checkpoints."""

    report_to: list[str] = field(default_factory=lambda: ["none"])
    """Trackers: "none", "wandb" (WANDB_MODE=offline works), "tensorboard"."""

    progress_bar: bool = True
    """Show a progress bar with reward and ETA."""

    plot: bool = True
    """Write curves.png (reward components, accuracy by number of people) at the end."""

    rewards: list[dict] = field(default_factory=lambda: [{"name": "kk", "preset": "logic_rl"}])
    """Reward functions: {"name": registry name or "pkg.mod:fn", "weight": 1.0, **options}."""

    trl: dict = field(default_factory=dict)
    """Any other `trl.GRPOConfig` field, passed through unchanged (e.g. {"mask_truncated_completions": true})."""

    lora: LoraSettings = field(default_factory=LoraSettings)
    """LoRA adapters."""

    data: DataSettings = field(default_factory=DataSettings)
    """Training prompts."""

    curriculum: CurriculumSettings = field(default_factory=CurriculumSettings)
    """Curriculum over the number of people."""

    warm_start: WarmStartSettings = field(default_factory=WarmStartSettings)
    """Supervised warm start before RL."""

    ppo: PPOSettings = field(default_factory=PPOSettings)
    """PPO value-head and GAE settings."""

    heldout: HeldoutSettings = field(default_factory=HeldoutSettings)
    """Held-out evaluation during training."""

    sokoban: SokobanSettings = field(default_factory=SokobanSettings)
    """Sokoban settings (data.kind: sokoban)."""

    ray: RaySettings = field(default_factory=RaySettings)
    """Ray Train workers and reward actors (all zeros: run locally)."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------- loading and validation


def load_config(source: str | os.PathLike | dict | TrainConfig | None = None,
                overrides: list[str] | None = None) -> TrainConfig:
    """Build a validated `TrainConfig` from a YAML path, a dict or a config, then apply `a.b=value` overrides.

    Override values are parsed as YAML scalars/lists (`lora.enabled=true`, `data.people=[3,4]`).
    """
    import yaml

    if isinstance(source, TrainConfig):
        raw = source.to_dict()
    elif source is None:
        raw = {}
    elif isinstance(source, dict):
        raw = dict(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise UserError(f"config file not found: {path}")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            first = first_line(exc)
            raise UserError(f"config file {path} is not valid YAML: {first}") from None
        if not isinstance(raw, dict):
            raise UserError(f"config file {path} must hold a mapping of fields, not {type(raw).__name__}")
    for item in overrides or []:
        key, sep, value = item.partition("=")
        key = key.strip().lstrip("-")
        if not sep or not key:
            raise UserError(f"bad override {item!r}: expected key=value (e.g. lora.enabled=true)")
        try:
            parsed = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            parsed = value
        _set_dotted(raw, key.replace("-", "_"), parsed)
    config = _build(TrainConfig, raw, prefix="")
    validate(config)
    return config


def _set_dotted(raw: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = raw
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise UserError(f"bad override {dotted}: {'.'.join(parts[:i + 1])} is not a section")
        node = child
    node[parts[-1]] = value


def _build(cls, raw: Any, prefix: str):
    if not isinstance(raw, dict):
        raise UserError(f"config field {prefix.rstrip('.') or 'root'}: expected a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise UserError(f"unknown config field {prefix}{unknown[0]} (known in this section: {', '.join(sorted(names))})")
    kwargs = {}
    for name, value in raw.items():
        kwargs[name] = _coerce(hints[name], value, f"{prefix}{name}")
    return cls(**kwargs)


def _coerce(tp, value, name: str):
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, name)
    if dataclasses.is_dataclass(tp):
        if dataclasses.is_dataclass(value):
            value = dataclasses.asdict(value)
        return _build(tp, value or {}, prefix=f"{name}.")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise UserError(f"config field {name}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise UserError(f"config field {name}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML reads "1e-6" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise UserError(f"config field {name}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise UserError(f"config field {name}: expected a string, got {value!r}")
    if origin is list:
        if name.endswith(("people", "levels")):
            value = _parse_people(value, name)
        if isinstance(value, str) and args and args[0] is str:
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise UserError(f"config field {name}: expected a list, got {value!r}")
        return [_coerce(args[0], v, f"{name}[{i}]") for i, v in enumerate(value)] if args else value
    if origin is dict or tp is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise UserError(f"config field {name}: expected a mapping, got {value!r}")
        return dict(value)
    return value


def _parse_people(value, name: str):
    """Accept 3, "3-7", "3,5" or [3, 4] for lists of numbers of people (`puzzles.parse_people`)."""
    from puzzles import parse_people

    try:
        return parse_people(value)
    except ValueError as exc:
        raise UserError(f"config field {name}: {exc}") from None


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise UserError(message)


def validate(c: TrainConfig) -> None:
    """Check values that types alone do not catch. Raises UserError naming the field."""
    from logicrl.algorithms import get_algorithm

    get_algorithm(c.algorithm)  # a registered name, a path or an entry point; UserError naming the field if not
    _require(c.loss_type is None or c.loss_type in LOSS_TYPES,
             f"config field loss_type: {c.loss_type!r} is not one of {', '.join(LOSS_TYPES)}")
    _require(c.scale_rewards in ("group", "batch", "none"),
             f"config field scale_rewards: {c.scale_rewards!r} is not one of group, batch, none")
    _require(c.rollout_backend in ROLLOUT_BACKENDS,
             f"config field rollout_backend: {c.rollout_backend!r} is not one of {', '.join(ROLLOUT_BACKENDS)}")
    _require(c.vllm_mode in ("colocate", "server"), f"config field vllm_mode: {c.vllm_mode!r} is not colocate or server")
    _require(bool(c.model), "config field model: must not be empty")
    _require(bool(c.output_dir), "config field output_dir: must not be empty")
    for name in ("max_steps", "per_device_train_batch_size", "gradient_accumulation_steps", "max_completion_length",
                 "logging_steps", "save_steps", "num_iterations"):
        _require(getattr(c, name) >= 1, f"config field {name}: must be at least 1, got {getattr(c, name)}")
    _require(c.num_generations >= 2, f"config field num_generations: must be at least 2, got {c.num_generations}")
    _require(c.learning_rate > 0, f"config field learning_rate: must be positive, got {c.learning_rate}")
    _require(c.temperature > 0, f"config field temperature: must be positive, got {c.temperature}")
    _require(0 < c.top_p <= 1, f"config field top_p: must be in (0, 1], got {c.top_p}")
    _require(c.beta is None or c.beta >= 0, f"config field beta: must be >= 0, got {c.beta}")
    _require(0 <= c.warmup_ratio < 1, f"config field warmup_ratio: must be in [0, 1), got {c.warmup_ratio}")
    generation_batch = c.per_device_train_batch_size * c.gradient_accumulation_steps
    _require(generation_batch % c.num_generations == 0,
             f"config field num_generations: per_device_train_batch_size x gradient_accumulation_steps "
             f"({generation_batch}) must be a multiple of it ({c.num_generations})")
    for tracker in c.report_to:
        _require(tracker in ("none", "wandb", "tensorboard", "all"),
                 f"config field report_to: {tracker!r} is not one of none, wandb, tensorboard")
    # rewards
    _require(len(c.rewards) >= 1, "config field rewards: at least one reward is needed")
    for i, spec in enumerate(c.rewards):
        _require(isinstance(spec, dict) and isinstance(spec.get("name"), str) and spec["name"],
                 f"config field rewards[{i}]: expected a mapping with a 'name', got {spec!r}")
        weight = spec.get("weight", 1.0)
        _require(isinstance(weight, (int, float)) and not isinstance(weight, bool),
                 f"config field rewards[{i}].weight: expected a number, got {weight!r}")
    # trl pass-through
    if c.trl:
        from trl import GRPOConfig  # only when the section is used: keeps plain validation light

        known = {f.name for f in dataclasses.fields(GRPOConfig)}
        for key in c.trl:
            _require(key in known, f"config field trl.{key}: not a trl.GRPOConfig field")
    # sections
    lo = c.lora
    _require(lo.r >= 1, f"config field lora.r: must be at least 1, got {lo.r}")
    _require(0 <= lo.dropout < 1, f"config field lora.dropout: must be in [0, 1), got {lo.dropout}")
    d = c.data
    _require(d.kind in ("kk", "math", "sokoban"), f"config field data.kind: {d.kind!r} is not kk, math or sokoban")
    _require(d.prompt_style in ("chat", "base", "compact"),
             f"config field data.prompt_style: {d.prompt_style!r} is not chat, base or compact")
    _require(d.kind != "math" or d.path, "config field data.path: math data needs a JSONL file")
    _require(d.path is None or Path(d.path).is_file() or d.kind == "sokoban",
             f"config field data.path: file not found: {d.path}")
    if d.kind == "sokoban":
        from logicrl.training.sokoban import validate as validate_sokoban

        validate_sokoban(c, _require)
    _require(d.count >= 1, f"config field data.count: must be at least 1, got {d.count}")
    _require(all(2 <= n <= 12 for n in d.people) and d.people,
             f"config field data.people: numbers of people must be in 2..12, got {d.people}")
    cu = c.curriculum
    _require(cu.mode in ("none", "schedule", "threshold"),
             f"config field curriculum.mode: {cu.mode!r} is not none, schedule or threshold")
    if cu.mode != "none":
        _require(bool(cu.levels), "config field curriculum.levels: must not be empty")
        _require(d.path is not None or set(cu.levels) <= set(d.people),
                 f"config field curriculum.levels: {cu.levels} must be among data.people {d.people}")
        _require(cu.steps_per_level >= 1, "config field curriculum.steps_per_level: must be at least 1")
        _require(0 < cu.threshold <= 1, f"config field curriculum.threshold: must be in (0, 1], got {cu.threshold}")
        _require(cu.window >= 1, "config field curriculum.window: must be at least 1")
        _require(0 <= cu.mix_previous < 1, "config field curriculum.mix_previous: must be in [0, 1)")
    w = c.warm_start
    _require(w.steps >= 0, f"config field warm_start.steps: must be >= 0, got {w.steps}")
    _require(w.learning_rate > 0, "config field warm_start.learning_rate: must be positive")
    _require(w.steps == 0 or d.kind == "kk", "config field warm_start.steps: a warm start needs K&K data (data.kind: kk)")
    p = c.ppo
    _require(0 < p.gamma <= 1, f"config field ppo.gamma: must be in (0, 1], got {p.gamma}")
    _require(0 <= p.lam <= 1, f"config field ppo.lam: must be in [0, 1], got {p.lam}")
    _require(p.vf_coef >= 0, f"config field ppo.vf_coef: must be >= 0, got {p.vf_coef}")
    h = c.heldout
    _require(h.every_n_steps >= 0, "config field heldout.every_n_steps: must be >= 0")
    _require(h.count >= 1, "config field heldout.count: must be at least 1")
    r = c.ray
    _require(r.num_workers >= 0, f"config field ray.num_workers: must be >= 0, got {r.num_workers}")
    _require(r.reward_actors >= 0, f"config field ray.reward_actors: must be >= 0, got {r.reward_actors}")
