"""`train(config)`: one RL run from a recipe. The CLI calls it, and so does each Ray Train worker.

    trainer, run_dir = build_trainer(config)   # model, data, rewards, callbacks, TRL args: no training yet
    trainer.train(resume_from_checkpoint=...)  # TRL does the loop

`build_trainer` is separate so that a Ray Train worker can add Ray's report callback before training.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from logicrl.config import TrainConfig, load_config, validate
from logicrl.errors import UserError, first_line

IN_RAY_WORKER_ENV = "LOGICRL_IN_RAY_WORKER"
WARM_START_DIR = "warm_start"
"""Where the warm-started model is saved inside the run directory (the base of a LoRA run's adapter)."""
MATH_INSTRUCTION = "Put your final answer within \\boxed{}."


@dataclass
class TrainResult:
    """What a finished run produced."""

    run_dir: str
    """The run directory (checkpoints, metrics.jsonl, curves.png, final/)."""
    model_dir: str
    """The final model (or LoRA adapter) directory, loadable with `load_model_and_tokenizer`."""
    global_step: int
    """Optimizer steps done in total (including steps of a resumed run)."""
    metrics: dict = field(default_factory=dict)
    """The last logged value of every metric."""
    heldout: list[dict] = field(default_factory=list)
    """Held-out evaluations, one per evaluation step."""
    train_runtime: float = 0.0
    """Seconds of `trainer.train()`."""


def as_config(config) -> TrainConfig:
    """A validated TrainConfig from a TrainConfig, dict or YAML path."""
    if isinstance(config, TrainConfig):
        validate(config)
        return config
    return load_config(config)


def train(config) -> TrainResult:
    """Run RL as the recipe says. With `ray.num_workers > 0` (outside a Ray worker), hand over to Ray Train."""
    config = as_config(config)
    if config.ray.num_workers > 0 and not os.environ.get(IN_RAY_WORKER_ENV):
        from logicrl.ray.train_ray import train_on_ray

        return _result_from_run_dir(Path(config.output_dir), train_on_ray(config))
    trainer, run_dir = build_trainer(config)
    return run_trainer(trainer, run_dir, config)


def _result_from_run_dir(run_dir: Path, ray_result=None) -> TrainResult:
    """A TrainResult read back from a run directory (after Ray Train workers wrote it)."""
    from logicrl.callbacks import METRICS_FILE, read_metrics

    rows = read_metrics(run_dir / METRICS_FILE)
    last: dict = {}
    for row in rows:
        last.update(row)
    heldout = [r for r in rows if any(k.startswith("heldout/") for k in r)]
    runtime = next((r["train_runtime"] for r in reversed(rows) if "train_runtime" in r), 0.0)
    return TrainResult(run_dir=str(run_dir), model_dir=str(run_dir / "final"), global_step=int(last.get("step", 0)),
                       metrics=last, heldout=heldout, train_runtime=float(runtime))


def run_trainer(trainer, run_dir: Path, config: TrainConfig) -> TrainResult:
    """`trainer.train()` with the recipe's resume setting, then `finish_training`."""
    resume = resolve_resume(config.resume, run_dir)
    if resume is not None and getattr(trainer, "curriculum", None) is not None:
        trainer.curriculum.load(resume)
    trainer.train(resume_from_checkpoint=resume)
    return finish_training(trainer, run_dir, config)


def finish_training(trainer, run_dir: Path, config: TrainConfig) -> TrainResult:
    """End-of-run steps (every process calls it): the final model (or adapter) in `<run_dir>/final`, the
    merged model when asked, and a summary. Ray Train workers call it after their own `trainer.train()`."""
    run_dir = Path(run_dir)
    final_dir = run_dir / "final"
    trainer.save_model(str(final_dir))
    model = trainer.accelerator.unwrap_model(trainer.model)
    if trainer.accelerator.is_main_process:
        trainer.processing_class.save_pretrained(str(final_dir))
        if config.lora.enabled and config.lora.merge_at_end:
            from logicrl.lora import save_merged

            save_merged(model, run_dir / "merged", trainer.processing_class)
    logger = _find_callback(trainer, "MetricsLogger")
    heldout = _find_callback(trainer, "HeldoutEvalCallback")
    runtime = next((e["train_runtime"] for e in reversed(trainer.state.log_history) if "train_runtime" in e), 0.0)
    _finish_wandb_run(trainer)
    return TrainResult(
        run_dir=str(run_dir),
        model_dir=str(final_dir),
        global_step=trainer.state.global_step,
        metrics=dict(logger.last) if logger else {},
        heldout=list(heldout.results) if heldout else [],
        train_runtime=float(runtime),
    )


def _finish_wandb_run(trainer) -> None:
    """Close the wandb run that transformers' callback opened, so its summary is written when `train`
    returns and a second `train` in the same process (a sweep, the demo) starts a run of its own."""
    if "wandb" not in (trainer.args.report_to or []):
        return
    import sys

    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.finish()


def resolve_resume(resume: str | None, run_dir: Path) -> str | None:
    """None, "last" (newest checkpoint in the run dir) or a checkpoint path -> a checkpoint path or None."""
    if not resume:
        return None
    if resume == "last":
        from transformers.trainer_utils import get_last_checkpoint

        last = get_last_checkpoint(str(run_dir)) if run_dir.is_dir() else None
        if last is None:
            raise UserError(f"--resume: no checkpoint-* directory in {run_dir}")
        return last
    path = Path(resume)
    if not (path / "trainer_state.json").is_file():
        raise UserError(f"--resume: {resume} is not a checkpoint directory (no trainer_state.json)")
    return str(path)


def _find_callback(trainer, name):
    for cb in trainer.callback_handler.callbacks:
        if type(cb).__name__ == name:
            return cb
    return None


# ---------------------------------------------------------------- building blocks


def require_rollout_backend(config: TrainConfig) -> None:
    """Fail at start-up, before loading anything, when vLLM is asked for but not installed."""
    if config.rollout_backend not in ("vllm", "vllm_lora"):
        return
    if importlib.util.find_spec("logicrl.vllm_utils") is not None:
        from logicrl.vllm_utils import require_vllm

        try:
            require_vllm()
        except (UserError, ImportError, RuntimeError) as exc:  # name the field that asked for vLLM
            message = first_line(exc)
            raise UserError(f"config field rollout_backend={config.rollout_backend}: {message}") from None
    elif importlib.util.find_spec("vllm") is None:
        raise UserError(f"config field rollout_backend={config.rollout_backend}: vLLM is not installed "
                        "(install the `gpu` extra: pip install 'logicrl[gpu]')")


def build_rewards(config: TrainConfig) -> tuple[list, list[float]]:
    """The recipe's reward callables (with component logging) and their weights."""
    import rewards
    from logicrl.callbacks import with_component_logging

    funcs, weights = [], []
    for i, spec in enumerate(config.rewards):
        options = {k: v for k, v in spec.items() if k not in ("name", "weight")}
        name = spec["name"]
        try:
            fn = rewards.get(name, **options)  # registered name, entry point or "pkg.mod:fn"
        except UserError:
            raise
        except (ValueError, TypeError, ImportError, AttributeError, KeyError) as exc:
            message = first_line(exc)
            raise UserError(f"config field rewards[{i}].name: cannot build reward {name!r}: {message}") from None
        funcs.append(fn)
        weights.append(float(spec.get("weight", 1.0)))
    remote = config.ray.reward_actors > 0
    if remote:
        from logicrl.ray.reward_pool import wrap_rewards

        funcs = wrap_rewards(funcs, config.ray)
    # Component curves are computed here from the local breakdown; with reward actors the scores still
    # come from the actors.
    funcs = [with_component_logging(fn, scores_from_breakdown=not remote) for fn in funcs]
    return funcs, weights


def kk_prompt(puzzle, style: str, tokenizer):
    """The prompt text or messages for one puzzle in the recipe's style."""
    if style == "compact":
        from logicrl.demo_data import compact_prompt

        return compact_prompt(puzzle)
    from puzzles import make_prompt

    return make_prompt(puzzle, style=style)


def load_puzzles(config: TrainConfig) -> list:
    """Training puzzles: from `data.path`, or generated per number of people from `data.seed`."""
    from puzzles import generate_kk, load_kk

    d = config.data
    if d.path:
        try:
            return list(load_kk(d.path))
        except UserError:
            raise
        except (OSError, ValueError, KeyError, TypeError, SyntaxError) as exc:
            raise UserError(f"config field data.path: cannot read {d.path}: {exc}") from None
    out = []
    for n in d.people:
        out.extend(generate_kk(n, d.count, seed=d.seed * 1000 + n, depth=d.depth, width=d.width))
    return out


def heldout_puzzles(config: TrainConfig, training_quizzes: set[str]) -> list:
    """Held-out puzzles by number of people, none of which is in the training set."""
    from puzzles import generate_kk

    h = config.heldout
    out = []
    for n in h.people:
        made = generate_kk(n, h.count * 2, seed=h.seed * 1000 + n, depth=config.data.depth, width=config.data.width)
        out.extend([p for p in made if p.quiz not in training_quizzes][: h.count])
    return out


def build_dataset(config: TrainConfig, tokenizer):
    """(datasets.Dataset with `prompt` and the reward columns, the puzzles or None for math)."""
    import datasets

    d = config.data
    if d.kind == "math":
        rows = []
        with open(d.path, encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    problem, answer = rec["problem"], rec["answer"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    raise UserError(f"config field data.path: line {line_no} of {d.path} needs JSON with "
                                    "'problem' and 'answer'") from None
                text = f"{problem}\n{MATH_INSTRUCTION}"
                prompt = [{"role": "user", "content": text}] if d.prompt_style == "chat" else \
                    f"User: {text}\nAssistant: <think>"
                rows.append({"prompt": prompt, "answer": str(answer)})
        if not rows:
            raise UserError(f"config field data.path: {d.path} holds no problems")
        return datasets.Dataset.from_list(rows), None
    puzzles = load_puzzles(config)
    if not puzzles:
        raise UserError("config field data: no training puzzles")
    if d.prompt_style == "chat" and getattr(tokenizer, "chat_template", None) is None:
        raise UserError(f"config field data.prompt_style: the tokenizer of {config.model} has no chat template; "
                        "use prompt_style: base")
    rows = [{"prompt": kk_prompt(p, d.prompt_style, tokenizer), "solution_text_format": p.solution_text_format,
             "n_people": int(p.n_people)} for p in puzzles]
    return datasets.Dataset.from_list(rows), puzzles


def warm_start_records(config: TrainConfig, puzzles) -> list[dict]:
    """Prompt/completion pairs from the puzzles' reasoning traces, in the recipe's prompt style."""
    style = config.data.prompt_style
    if config.warm_start.count:
        from puzzles import generate_kk

        puzzles = [p for n in config.data.people for p in generate_kk(
            n, config.warm_start.count, seed=config.data.seed * 1000 + 500 + n,
            depth=config.data.depth, width=config.data.width)]
    if style == "compact":
        from logicrl.demo_data import sft_records

        return sft_records(puzzles)
    records = []
    for p in puzzles:
        answer = f"</think><answer>{p.solution_text_format}</answer>"
        if style == "base":  # the prompt already ends with "<think>"
            completion = f" {p.trace.strip()} {answer}"
        else:
            completion = [{"role": "assistant", "content": f"<think> {p.trace.strip()} {answer}"}]
        records.append({"prompt": kk_prompt(p, style, None), "completion": completion})
    return records


def run_warm_start(config: TrainConfig, model, tokenizer, puzzles, run_dir: Path):
    """Supervised warm start (TRL SFTTrainer, via logicrl.sft); returns the trained model."""
    from logicrl import sft

    if puzzles is None:
        raise UserError("config field warm_start.steps: a warm start needs K&K data (data.kind: kk)")
    w = config.warm_start
    # Saved: the base of a LoRA run's adapter, and the "before RL" checkpoint to compare against.
    result = sft.warm_start(model, tokenizer, warm_start_records(config, puzzles), output_dir=run_dir / WARM_START_DIR,
                            max_steps=w.steps, learning_rate=w.learning_rate, batch_size=w.batch_size,
                            seed=config.seed, save=True)
    return result.model


def grpo_args(config: TrainConfig, run_dir: Path, trainer_cls):
    """TRL GRPOConfig from the recipe (explicit fields, algorithm defaults, then the `trl:` pass-through)."""
    import torch
    from trl import GRPOConfig

    from logicrl.trl_compat import checkpointing_kwargs

    on_gpu = torch.cuda.is_available()
    bf16 = config.bf16 if config.bf16 is not None else (on_gpu and torch.cuda.is_bf16_supported())
    if bf16 and not on_gpu:
        raise UserError("config field bf16: bfloat16 training needs a CUDA GPU here")
    kwargs = dict(  # noqa: C408 (keyword form mirrors GRPOConfig's signature)
        output_dir=str(run_dir),
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        num_generations=config.num_generations,
        max_completion_length=config.max_completion_length,
        temperature=config.temperature,
        top_p=config.top_p,
        beta=config.beta if config.beta is not None else trainer_cls.default_beta,
        epsilon=config.epsilon,
        num_iterations=config.num_iterations,
        loss_type=config.loss_type or trainer_cls.default_loss_type,
        scale_rewards=config.scale_rewards,
        warmup_steps=config.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio
        lr_scheduler_type=config.lr_scheduler_type,
        max_grad_norm=config.max_grad_norm,
        bf16=bool(bf16),
        use_cpu=not on_gpu,
        seed=config.seed,
        data_seed=config.seed,
        logging_steps=config.logging_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        report_to=[] if config.report_to == ["none"] else list(config.report_to),
        reward_weights=[float(s.get("weight", 1.0)) for s in config.rewards],
        disable_tqdm=True,  # our progress bar shows reward and ETA
        log_completions=False,
        dataloader_num_workers=0,
        use_vllm=config.rollout_backend == "vllm",
        vllm_mode=config.vllm_mode,
        vllm_gpu_memory_utilization=config.vllm_gpu_memory_utilization,
    )
    # Always explicit: TRL's configs default it to True (every activation recomputed in the backward pass).
    kwargs.update(checkpointing_kwargs(GRPOConfig, config.gradient_checkpointing))
    kwargs.update(config.trl)
    try:
        return GRPOConfig(**kwargs)
    except (ValueError, TypeError) as exc:
        raise UserError(f"config: TRL rejected the settings: {first_line(exc)}") from None


def build_trainer(config, callbacks=None):
    """Everything but the training loop: returns (trainer, run_dir).

    Loads the model (and LoRA), builds data, rewards, curriculum and callbacks, runs the warm start when
    asked, and constructs the registered algorithm's trainer. Extra `callbacks` are added (Ray Train's
    report callback, for instance).
    """
    config = as_config(config)
    require_rollout_backend(config)
    from transformers import set_seed
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from logicrl.algorithms import get_algorithm
    from logicrl.callbacks import HeldoutEvalCallback, MetricsLogger, PlotCallback, RewardProgressBar
    from logicrl.models import load_model_and_tokenizer

    trainer_cls = get_algorithm(config.algorithm)
    run_dir = Path(config.output_dir)
    resolve_resume(config.resume, run_dir)  # a bad --resume fails before anything loads
    if config.heldout.every_n_steps and importlib.util.find_spec("logicrl.heldout") is None:
        raise UserError("config field heldout.every_n_steps: logicrl.heldout is not available in this install")
    set_seed(config.seed)

    # Model first (cheap checks above have passed). An adapter to continue with LoRA is applied below.
    adapter_for_model = None if config.lora.enabled else config.adapter
    reward_funcs, _weights = build_rewards(config)  # unknown reward names fail before the model loads
    model, tokenizer = load_model_and_tokenizer(config.model, adapter=adapter_for_model)
    tokenizer.padding_side = "left"
    dataset, puzzles = build_dataset(config, tokenizer)

    if config.warm_start.steps > 0:
        warm_dir = run_dir / WARM_START_DIR
        if config.resume and (warm_dir / "config.json").is_file():
            # Resuming: a LoRA run's checkpoints hold only the adapter, so its base is the saved warm start;
            # a full fine-tuning checkpoint replaces all weights anyway.
            if config.lora.enabled:
                model, _ = load_model_and_tokenizer(str(warm_dir))
        else:
            model = run_warm_start(config, model, tokenizer, puzzles, run_dir)

    if config.lora.enabled:
        from logicrl.lora import apply_lora

        model = apply_lora(model, config.lora, adapter=config.adapter)

    curriculum = None
    if config.curriculum.mode != "none":
        from logicrl.curriculum import Curriculum

        c = config.curriculum
        curriculum = Curriculum(dataset["n_people"], c.levels, mode=c.mode, steps_per_level=c.steps_per_level,
                                threshold=c.threshold, window=c.window, mix_previous=c.mix_previous)

    rollout_func = None
    if config.rollout_backend == "vllm_lora":
        from logicrl.rollout_vllm import make_rollout_func

        rollout_func = make_rollout_func(config, tokenizer)

    run_dir.mkdir(parents=True, exist_ok=True)
    logger = MetricsLogger(run_dir)
    all_callbacks = [logger]
    if curriculum is not None:
        from logicrl.curriculum import CurriculumCallback

        all_callbacks.insert(0, CurriculumCallback(curriculum))  # first: its level is in every log line
    if config.heldout.every_n_steps:
        quizzes = {p.quiz for p in puzzles} if puzzles else set()
        all_callbacks.append(HeldoutEvalCallback(
            tokenizer, heldout_puzzles(config, quizzes), config.heldout.every_n_steps, logger,
            heldout_kwargs(config), at_start=config.heldout.at_start))
    if config.progress_bar:
        all_callbacks.append(RewardProgressBar())
    if config.plot:
        all_callbacks.append(PlotCallback(run_dir))
    all_callbacks.extend(callbacks or [])

    args = grpo_args(config, run_dir, trainer_cls)
    trainer = trainer_cls(
        model=model,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=all_callbacks,
        rollout_func=rollout_func,
        curriculum=curriculum,
        **trainer_cls.extra_init_kwargs(config),
    )
    for default_bar in (ProgressCallback, PrinterCallback):
        trainer.remove_callback(default_bar)
    heldout = _find_callback(trainer, "HeldoutEvalCallback")
    if heldout is not None:
        heldout.trainer_metrics = trainer._metrics["train"]
    if trainer.accelerator.is_main_process:
        from logicrl.fsutil import atomic_write_text

        atomic_write_text(run_dir / "config.json", json.dumps(dataclasses.asdict(config), indent=2, default=str))
    return trainer, run_dir


def heldout_kwargs(config: TrainConfig) -> dict:
    """Keyword arguments for `logicrl.heldout.evaluate_kk` that its signature accepts."""
    import inspect

    from logicrl.heldout import evaluate_kk

    wanted = {"max_new_tokens": config.heldout.max_new_tokens, "prompt_style": config.data.prompt_style,
              "style": config.data.prompt_style}
    params = inspect.signature(evaluate_kk).parameters
    return {k: v for k, v in wanted.items() if k in params}
