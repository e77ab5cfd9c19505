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

from logicrl.bounds import bounded, check_bounds
from logicrl.errors import UserError, first_line
from logicrl.ray.settings import RaySettings
from puzzles.generate import MAX_DEPTH, MAX_WIDTH, MIN_DEPTH
from puzzles.solver import MIN_PEOPLE

MAX_TRAIN_PEOPLE = 12
"""Largest number of people a recipe may ask for (the generator goes to `puzzles.MAX_PEOPLE`)."""
PEOPLE_RANGE = {"ge": MIN_PEOPLE, "le": MAX_TRAIN_PEOPLE, "items": True}
"""The allowed range of each item of a list of numbers of people."""

ROLLOUT_BACKENDS = ("hf", "vllm", "vllm_lora")
LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo")


@dataclass
class AdapterSettings:
    """One named LoRA adapter of `lora.adapters` (unset fields inherit the `lora:` section's values)."""

    r: int | None = bounded(None, ge=1)
    """Adapter rank (None: `lora.r`)."""

    alpha: int | None = bounded(None, ge=1)
    """LoRA scaling numerator (None: `lora.alpha`)."""

    dropout: float | None = bounded(None, ge=0.0, lt=1.0)
    """Dropout on the adapter input (None: `lora.dropout`)."""

    target_modules: list[str] | None = None
    """Module names to adapt (None: `lora.target_modules`)."""

    init: str | None = None
    """A saved peft adapter directory to start from (its own r, alpha and targets apply); the KL reference of its
    rows is then this starting adapter, not the bare base."""


@dataclass
class RoutingSettings:
    """Which adapter each row goes through (`logicrl.routing.Router`): a fixed rule on one key of the row."""

    by: str = "task"
    """The row key that picks the adapter: a dataset column (`task` of `data.mix`) or the built-in "modality"
    ("image" for rows with an image, else "text")."""

    map: dict = field(default_factory=dict)
    """Key value -> adapter name or "__base__" (the bare base model)."""

    default: str = "error"
    """Route of a value not in `map`: "error" (stop with a one-line error), "__base__" or an adapter name."""


@dataclass
class LoraSettings:
    """LoRA adapters through peft (off by default: full fine-tuning)."""

    enabled: bool = False
    """Train LoRA adapters instead of all weights."""

    r: int = bounded(16, ge=1)
    """Adapter rank."""

    alpha: int = bounded(32, ge=1)
    """LoRA scaling numerator (`lora_alpha`)."""

    dropout: float = bounded(0.05, ge=0.0, lt=1.0)
    """Dropout on the adapter input."""

    target_modules: list[str] | None = None
    """Module names to adapt; None: `logicrl.models.default_lora_targets(model)` (Phi-3: qkv_proj, o_proj,
    gate_up_proj, down_proj)."""

    merge_at_end: bool = False
    """Also write the adapter merged into the base weights to `<output_dir>/merged` at the end."""

    adapters: dict[str, AdapterSettings] = field(default_factory=dict)
    """Several named adapters on one frozen base, routed per row by `routing` (empty: one adapter, "default").
    Names: a letter, then letters, digits, `_`; not default, ref or __base__."""

    routing: RoutingSettings = field(default_factory=RoutingSettings)
    """How rows are routed to `adapters` (training, rollouts, evaluation, serving)."""

    train: list[str] | None = None
    """Adapters that get gradients (None: all of `adapters`); the others stay frozen."""


@dataclass
class MixEntry:
    """One task of a `data.mix`: its rows carry `task` (the routing key) and the columns its rewards read."""

    task: str = ""
    """The task's name: the `task` column of its rows (routing reads it; rewards with `tasks:` score only it)."""

    kind: str = "kk"
    """"kk" (Knights-and-Knaves) or "math" (JSONL with `problem` and `answer`)."""

    path: str | None = None
    """Load the rows from this file (K&K: .jsonl/.parquet; math: JSONL) instead of generating puzzles."""

    people: list[int] | None = None
    """K&K: numbers of people to generate (None: `data.people`)."""

    count: int | None = bounded(None, ge=1)
    """K&K: puzzles per number of people (None: `data.count`); math: the first `count` problems (None: all)."""

    seed: int | None = bounded(None, ge=0)
    """K&K: generator seed (None: `data.seed`)."""

    prompt_style: str | None = None
    """This task's prompt style (None: `data.prompt_style`); math has chat and base forms, K&K also compact."""


@dataclass
class DataSettings:
    """Where the training prompts come from."""

    kind: str = "kk"
    """"kk" (Knights-and-Knaves puzzles), "math" (JSONL with `problem` and `answer`) or "sokoban" (MageBench's
    Sokoban levels; the `sokoban:` section)."""

    path: str | None = None
    """Load the data from this file (K&K: .jsonl/.parquet via `puzzles.load_kk`; math: JSONL; sokoban: an XSB
    file or folder) instead of generating puzzles or levels."""

    people: list[int] = bounded(default_factory=lambda: [3], **PEOPLE_RANGE)
    """K&K: numbers of people to generate puzzles for (a mix when several; a curriculum draws from these)."""

    count: int = bounded(200, ge=1)
    """K&K: puzzles generated per number of people; sokoban: levels generated per configuration."""

    seed: int = bounded(0, ge=0)
    """Seed of the puzzle (or level) generator (the same seed gives the same data)."""

    names: list[str] | None = None
    """K&K: fixed names for generated puzzles (person i of every puzzle gets names[i]); None draws names
    from the generator's pool. Held-out puzzles and `logicrl eval` on the trained model use them too. A
    1M-parameter model cannot learn to copy names in minutes, so the CPU demo fixes three. At least as many
    as the largest puzzle's people; each one word of letters, distinct ignoring case, without a role word
    (`puzzles.generate.check_names`: the graders could not read the answer otherwise)."""

    depth: int = bounded(2, ge=MIN_DEPTH, le=MAX_DEPTH)
    """K&K: statement nesting depth of generated puzzles."""

    width: int = bounded(2, ge=2, le=MAX_WIDTH)
    """K&K: largest and/or width of generated statements."""

    prompt_style: str = "chat"
    """"chat" (messages through the tokenizer's chat template), "base" ("User: ... Assistant: <think>") or
    "compact" (the quiz text only, with the demo's compact trace format for the warm start; sokoban: the
    grid and the actions heading, `agents.sokoban.compact`). Sokoban: chat is MageBench's own messages."""

    mix: list[MixEntry] = field(default_factory=list)
    """Several tasks in one run (replaces kind/path/people/count): each entry's rows get its `task` column,
    which `lora.routing` and the rewards' `tasks:` read. Empty: the single task above."""


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

    max_turns: int = bounded(10, ge=1)
    """Online: most turns (model replies) per episode (MageBench: 50). Every turn's reply and the next scene
    must fit `max_completion_length` together with the earlier ones; an episode stops when they do not."""

    turn_tokens: int = bounded(32, ge=1)
    """Online, rollout_func: most tokens of one reply (MageBench: 300)."""

    parser: str = "magebench"
    """Online, rollout_func: the reply parser ("magebench" or "tolerant"; Global: the reward's `parser`)."""


@dataclass
class CurriculumSettings:
    """Curriculum over the number of people: easy puzzles first."""

    mode: str = "none"
    """"none" (sample all of `data.people`), "schedule" (advance every `steps_per_level` steps) or
    "threshold" (advance when training accuracy over `window` logged steps reaches `threshold`)."""

    levels: list[int] = bounded(default_factory=lambda: [3, 4, 5, 6, 7], **PEOPLE_RANGE)
    """Numbers of people, in order. Must be a subset of `data.people` (generated data) or present in the file."""

    steps_per_level: int = bounded(50, ge=1)
    """Schedule mode: optimizer steps spent on each level."""

    threshold: float = bounded(0.8, gt=0.0, le=1.0)
    """Threshold mode: accuracy (fraction of fully correct answers) that moves to the next level."""

    window: int = bounded(5, ge=1)
    """Threshold mode: number of logged steps whose mean accuracy is compared with the threshold."""

    mix_previous: float = bounded(0.0, ge=0.0, lt=1.0)
    """Fraction of each batch drawn from earlier (easier) levels, to avoid forgetting."""


@dataclass
class WarmStartSettings:
    """Supervised warm start on the puzzles' reasoning traces (TRL SFTTrainer) before RL."""

    steps: int = bounded(0, ge=0)
    """SFT optimizer steps (0 = no warm start)."""

    learning_rate: float = bounded(1e-4, gt=0)
    """SFT learning rate."""

    batch_size: int = bounded(8, ge=1)
    """SFT per-device batch size."""

    count: int = bounded(0, ge=0)
    """Trace examples to generate per number of people (0 = reuse the RL puzzles)."""


@dataclass
class PPOSettings:
    """PPO-only settings (algorithm: ppo)."""

    gamma: float = bounded(1.0, gt=0.0, le=1.0)
    """Discount factor of the returns."""

    lam: float = bounded(0.95, ge=0.0, le=1.0)
    """GAE lambda."""

    vf_coef: float = bounded(0.1, ge=0)
    """Weight of the value loss in the total loss."""

    cliprange_value: float = bounded(0.2, gt=0)
    """Clip range of the value-function update around the rollout-time values."""

    value_learning_rate: float | None = bounded(None, gt=0)
    """Learning rate of the value head (None: the policy learning rate x 10)."""

    whiten_advantages: bool = True
    """Whiten GAE advantages over the batch's completion tokens."""


@dataclass
class HeldoutSettings:
    """Periodic evaluation on held-out puzzles (greedy, accuracy by number of people)."""

    every_n_steps: int = bounded(0, ge=0)
    """Evaluate every N optimizer steps and at the end (0 = never)."""

    people: list[int] = bounded(default_factory=lambda: [3], **PEOPLE_RANGE)
    """Numbers of people in the held-out set."""

    count: int = bounded(20, ge=1)
    """Held-out puzzles per number of people."""

    seed: int = bounded(10_000, ge=0)
    """Seed of the held-out puzzles (keep it away from `data.seed`)."""

    max_new_tokens: int = bounded(256, ge=1)
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

    vllm_gpu_memory_utilization: float = bounded(0.3, gt=0.0, le=1.0)
    """Fraction of GPU memory vLLM may take in colocate mode."""

    learning_rate: float = bounded(1e-6, gt=0)
    """Policy learning rate."""

    max_steps: int = bounded(20, ge=1)
    """Optimizer steps of RL."""

    per_device_train_batch_size: int = bounded(8, ge=1)
    """Completions per device per micro-step (TRL semantics: a multiple of the prompts' groups)."""

    gradient_accumulation_steps: int = bounded(1, ge=1)
    """Micro-steps per optimizer step."""

    num_generations: int = bounded(4, ge=2)
    """Rollouts per prompt (the group size)."""

    max_completion_length: int = bounded(256, ge=1)
    """Longest generated answer, in tokens."""

    temperature: float = bounded(1.0, gt=0)
    """Sampling temperature of the rollouts."""

    top_p: float = bounded(1.0, gt=0.0, le=1.0)
    """Nucleus sampling of the rollouts."""

    beta: float | None = bounded(None, ge=0)
    """KL coefficient against the reference model. None: 0.0 for grpo, 0.001 for reinforce_pp and ppo."""

    epsilon: float = bounded(0.2, gt=0)
    """Clip range of the policy ratio."""

    num_iterations: int = bounded(1, ge=1)
    """Optimisation passes over each generated batch."""

    warmup_ratio: float = bounded(0.0, ge=0.0, lt=1.0)
    """Linear warm-up of the learning rate, as a fraction of max_steps."""

    lr_scheduler_type: str = "constant"
    """transformers scheduler name ("constant", "linear", "cosine", ...)."""

    max_grad_norm: float = bounded(1.0, ge=0)
    """Gradient clipping norm (0: no clipping)."""

    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass (saves memory on large models)."""

    bf16: bool | None = None
    """bfloat16 mixed precision (float32 weights, bfloat16 compute; also the warm start's). None: on when a
    CUDA GPU with bf16 is present, off on CPU. true on CPU needs native bf16 (avx512_bf16 or amx_bf16): about
    1.5-2x less compute there than float32 (measured on the embedded model), else a one-line error."""

    seed: int = bounded(0, ge=0)
    """Seed of sampling, shuffling and initialisation."""

    logging_steps: int = bounded(1, ge=1)
    """Log (metrics.jsonl, progress bar, report_to) every N optimizer steps."""

    save_steps: int = bounded(50, ge=1)
    """Checkpoint every N optimizer steps (`--resume` continues from the last one)."""

    save_total_limit: int | None = bounded(2, ge=1)
    """Keep at most this many checkpoints (None: all)."""

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
        raw = read_recipe_file(Path(source))
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


def read_recipe_file(path: Path) -> dict:
    """The mapping of fields in a YAML recipe file. UserError when the file is missing, unreadable, not
    YAML (naming the line and column), empty (leave out --config to train the built-in defaults) or not
    a mapping."""
    import yaml

    if path.is_dir():
        raise UserError(f"config file {path} is a directory")
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise UserError(f"config file {path}: line {line}: not UTF-8 text (a binary file?)") from None
    except OSError as exc:
        raise UserError(f"config file {path}: cannot read it: {exc.strerror or exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or first_line(exc)
        raise UserError(f"config file {path} is not valid YAML: {where}{problem}") from None
    if raw is None:
        raise UserError(f"config file {path} is empty: give at least one field (without --config, "
                        f"`logicrl train` uses the built-in defaults)")
    if not isinstance(raw, dict):
        raise UserError(f"config file {path} must hold a mapping of fields, not {type(raw).__name__}")
    return raw


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
    if origin is dict and len(args) == 2 and dataclasses.is_dataclass(args[1]):
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise UserError(f"config field {name}: expected a mapping of name -> settings, got {value!r}")
        return {str(k): _coerce(args[1], v or {}, f"{name}.{k}") for k, v in value.items()}
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
        return parse_people(value, check_range=False)  # the range is the field's (`bounded`, PEOPLE_RANGE)
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
    _check_output_dir(c.output_dir)
    check_bounds(c)  # every numeric field against the range declared on it (`bounded(...)` above)
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
    if c.trl:
        from logicrl.trl_fields import check_trl_section

        c.trl = check_trl_section(c.trl)
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
    _require(bool(d.people), "config field data.people: must not be empty")
    cu = c.curriculum
    _require(cu.mode in ("none", "schedule", "threshold"),
             f"config field curriculum.mode: {cu.mode!r} is not none, schedule or threshold")
    if cu.mode != "none":
        _require(bool(cu.levels), "config field curriculum.levels: must not be empty")
        _require(d.path is not None or set(cu.levels) <= set(d.people),
                 f"config field curriculum.levels: {cu.levels} must be among data.people {d.people}")
    _require(c.warm_start.steps == 0 or d.kind == "kk",
             "config field warm_start.steps: a warm start needs K&K data (data.kind: kk)")
    _require(bool(c.heldout.people), "config field heldout.people: must not be empty")
    validate_mix_and_adapters(c)
    if d.names:
        _check_names(c)


def _check_names(c: TrainConfig) -> None:
    """`data.names` must tell apart the people of every puzzle they are given to (generated training,
    warm-start and held-out puzzles) in answers the rewards can grade (`puzzles.generate.check_names`)."""
    from puzzles.generate import check_names

    d = c.data
    sizes = list(d.people) if not d.path or (c.warm_start.steps and c.warm_start.count) else []
    sizes += [n for m in d.mix if m.kind == "kk" and not m.path for n in (m.people or d.people)]
    if c.heldout.every_n_steps:
        sizes += c.heldout.people
    try:
        check_names(d.names, max(sizes, default=0))
    except ValueError as exc:
        raise UserError(f"config field data.names: {exc}") from None


def _check_output_dir(output_dir: str) -> None:
    """An output_dir that is a file, or lies under one, is refused before anything is created."""
    from logicrl.fsutil import blocking_file

    path = Path(output_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise UserError(f"config field output_dir: {output_dir} is a file, not a directory")
    blocker = blocking_file(path)
    _require(blocker is None, f"config field output_dir: cannot create {output_dir}: {blocker} is a file, not a directory")


# ---------------------------------------------------------------- several tasks, several adapters

# peft options that adapter-only vLLM sync cannot carry (vLLM would keep serving the base's copy, or cannot
# apply them): the same list TRL 1.16's `validate_lora_for_vllm_sync` falls back to merged sync for.
_UNSYNCABLE_ADAPTER_OPTIONS = ("modules_to_save", "use_dora", "target_parameters")
_UNSERVABLE_TARGETS = ("embed_tokens", "lm_head", "wte", "embed_in", "embed_out")


def adapter_settings(c: TrainConfig) -> dict[str, dict]:
    """Each adapter of `lora.adapters` with the `lora:` section's defaults filled in:
    name -> {r, alpha, dropout, target_modules, init}."""
    lo = c.lora
    out = {}
    for name, a in lo.adapters.items():
        out[name] = {"r": a.r if a.r is not None else lo.r, "alpha": a.alpha if a.alpha is not None else lo.alpha,
                     "dropout": a.dropout if a.dropout is not None else lo.dropout,
                     "target_modules": a.target_modules if a.target_modules is not None else lo.target_modules,
                     "init": a.init}
    return out


def trained_adapters(c: TrainConfig) -> list[str]:
    """The adapters that get gradients, in `lora.adapters` order."""
    names = list(c.lora.adapters)
    return names if c.lora.train is None else [n for n in names if n in set(c.lora.train)]


def router_of(c: TrainConfig):
    """The recipe's `logicrl.routing.Router` (None without `lora.adapters`)."""
    if not c.lora.adapters:
        return None
    from logicrl.routing import Router

    ro = c.lora.routing
    return Router(by=ro.by, map=dict(ro.map), default=ro.default)


def _saved_adapter_config(path: str, field_name: str) -> dict:
    import json

    config_path = Path(path).expanduser() / "adapter_config.json"
    _require(config_path.is_file(), f"config field {field_name}: {path} is not a peft adapter directory "
                                    "(no adapter_config.json)")
    try:
        return json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"config field {field_name}: cannot read {config_path}: {first_line(exc)}") from None


def validate_mix_and_adapters(c: TrainConfig) -> None:
    """`data.mix`, rewards' `tasks`, and `lora.adapters` / `routing` / `train`. Raises UserError naming the field."""
    from logicrl.routing import BASE, check_adapter_name

    d, lo = c.data, c.lora
    tasks = []
    for i, m in enumerate(d.mix):
        where = f"config field data.mix[{i}]"
        _require(bool(m.task) and isinstance(m.task, str), f"{where}.task: every mix entry needs a task name")
        _require(m.kind in ("kk", "math"), f"{where}.kind: {m.kind!r} is not kk or math")
        _require(m.kind == "kk" or bool(m.path), f"{where}.path: math data needs a JSONL file")
        _require(m.path is None or Path(m.path).is_file(), f"{where}.path: file not found: {m.path}")
        _require(m.count is None or m.count >= 1, f"{where}.count: must be at least 1, got {m.count}")
        style = m.prompt_style or d.prompt_style
        _require(style in ("chat", "base", "compact"), f"{where}.prompt_style: {style!r} is not chat, base or compact")
        _require(m.kind == "kk" or style != "compact",
                 f"{where}.prompt_style: compact is a K&K form; give this math task prompt_style: base or chat")
        _require(m.people is None or (bool(m.people) and all(MIN_PEOPLE <= n <= MAX_TRAIN_PEOPLE for n in m.people)),
                 f"{where}.people: must be in {MIN_PEOPLE}..{MAX_TRAIN_PEOPLE}, got {m.people}")
        tasks.append(m.task)
    if d.mix:
        _require(c.curriculum.mode == "none", "config field curriculum.mode: a curriculum over the number of "
                                              "people needs one K&K task, not data.mix")
        _require(c.warm_start.steps == 0, "config field warm_start.steps: a warm start needs one K&K task, not "
                                          "data.mix (warm-start a run first and use its warm_start/ as model)")
    for i, spec in enumerate(c.rewards):
        if "tasks" not in spec:
            continue
        wanted = spec["tasks"]
        _require(isinstance(wanted, list) and wanted and all(isinstance(t, str) for t in wanted),
                 f"config field rewards[{i}].tasks: expected a list of task names, got {wanted!r}")
        _require(bool(d.mix), f"config field rewards[{i}].tasks: restricting a reward to tasks needs data.mix")
        for t in wanted:
            _require(t in tasks, f"config field rewards[{i}].tasks: {t!r} is no task of data.mix "
                                 f"({', '.join(dict.fromkeys(tasks))})")

    ro = lo.routing
    if not lo.adapters:
        _require(lo.train is None, "config field lora.train: needs lora.adapters (several named adapters)")
        _require(not ro.map and ro.by == "task" and ro.default == "error",
                 "config field lora.routing: needs lora.adapters (several named adapters)")
        return
    _require(lo.enabled, "config field lora.adapters: needs lora.enabled: true")
    _require(c.adapter is None, "config field adapter: with lora.adapters, start an adapter from a saved one "
                                "with lora.adapters.<name>.init")
    settings = adapter_settings(c)
    for name, a in settings.items():
        check_adapter_name(name, "config field lora.adapters")
        where = f"config field lora.adapters.{name}"
        _require(a["r"] >= 1, f"{where}.r: must be at least 1, got {a['r']}")
        _require(0 <= a["dropout"] < 1, f"{where}.dropout: must be in [0, 1), got {a['dropout']}")
        if a["init"]:
            saved = _saved_adapter_config(a["init"], f"lora.adapters.{name}.init")
            a["r"] = max([int(saved.get("r", 8)), *map(int, (saved.get("rank_pattern") or {}).values())])
            a["target_modules"] = saved.get("target_modules")
            if c.rollout_backend == "vllm_lora":
                for option in _UNSYNCABLE_ADAPTER_OPTIONS:
                    _require(not saved.get(option), f"config field lora.adapters.{name}.init: the saved adapter "
                                                    f"sets {option}, which adapter sync to vLLM cannot carry")
                _require(saved.get("bias", "none") == "none", f"config field lora.adapters.{name}.init: the saved "
                         "adapter trains biases (bias != none), which adapter sync to vLLM cannot carry")
        if c.rollout_backend == "vllm_lora":
            _require(a["r"] <= 512, f"{where}.r: rank {a['r']} is above vLLM's largest max_lora_rank (512)")
            targets = a["target_modules"] or []
            targets = [targets] if isinstance(targets, str) else targets
            bad = [t for t in targets if any(u in str(t) for u in _UNSERVABLE_TARGETS)]
            if bad:
                raise UserError(f"{where}.target_modules: {bad[0]} (embeddings, LM head) cannot be served as a "
                                "vLLM LoRA; target the attention and MLP projections")
    router = router_of(c)
    router.check(lo.adapters, where="config field lora.routing")
    if lo.train is not None:
        _require(bool(lo.train), "config field lora.train: empty (no adapter to train); omit it to train all")
        for name in lo.train:
            _require(name in lo.adapters, f"config field lora.train: {name!r} names no adapter "
                                          f"({', '.join(lo.adapters)})")
    trained = set(trained_adapters(c))
    if d.mix and ro.by == "task":
        for m in d.mix:
            target = router.route({"task": m.task})  # UserError when the task matches nothing and default: error
            _require(target != BASE and target in trained,
                     f"config field lora.routing: task {m.task!r} of data.mix routes to "
                     f"{'the bare base' if target == BASE else 'frozen adapter ' + repr(target)}, which gets no "
                     "gradient; route it to a trained adapter (lora.train) or drop it from data.mix")
    _require(c.rollout_backend != "vllm", "config field rollout_backend: TRL's vLLM integration merges every active "
                                          "adapter into one weight set; routed adapters need hf or vllm_lora")
    _require(c.algorithm != "ppo", "config field algorithm: ppo's value head is not routed; use grpo or "
                                   "reinforce_pp with lora.adapters")
    _require(not c.gradient_checkpointing, "config field gradient_checkpointing: its recomputation in the backward "
             "pass would run under the last adapter switched on, not each row's; off with lora.adapters")
    _require(not lo.merge_at_end, "config field lora.merge_at_end: merges one adapter; with lora.adapters merge a "
                                  "route with `logicrl export RUN/final --merge NAME`")
