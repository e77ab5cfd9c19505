"""`build_trainer(config)`: everything of a run but the loop, in the order that fails fastest.

Cheap checks first (recipe, algorithm, rollout backend, resume point, rewards, TRL's own config), so a bad
value fails in a second; then the model, data, warm start, LoRA, curriculum, rollouts and callbacks.
"""

from __future__ import annotations

from pathlib import Path

from logicrl.config import TrainConfig, load_config, validate
from logicrl.errors import UserError, first_line
from logicrl.training.rundir import config_json, open_run, resolve_resume


def as_config(config) -> TrainConfig:
    """A validated TrainConfig from a TrainConfig, dict or YAML path (UserError naming the field if not)."""
    if isinstance(config, TrainConfig):
        validate(config)
        return config
    return load_config(config)


def require_rollout_backend(config: TrainConfig) -> None:
    """Fail at start-up, before loading anything, when vLLM is asked for but not installed."""
    if config.ray.rollout_engines:  # the engines run as Ray actors and check vLLM in their own environment
        from logicrl.ray.settings import validate_rollout_engines, validate_settings

        validate_settings(config.ray)
        validate_rollout_engines(config)
        return
    if config.rollout_backend not in ("vllm", "vllm_lora"):
        return
    from logicrl.vllm_utils import require_vllm

    try:
        require_vllm()
    except UserError as exc:  # name the field that asked for vLLM
        raise UserError(f"config field rollout_backend={config.rollout_backend}: {exc}") from None


def grpo_args(config: TrainConfig, run_dir: Path, algorithm, reward_weights: list[float]):
    """TRL's GRPOConfig from the recipe (explicit fields, the algorithm's defaults, then the `trl:`
    pass-through). Raises UserError when TRL rejects the settings."""
    import torch
    from trl import GRPOConfig

    from logicrl.models import bf16_available
    from logicrl.trl_compat import checkpointing_kwargs

    on_gpu = torch.cuda.is_available()
    bf16 = config.bf16 if config.bf16 is not None else (on_gpu and torch.cuda.is_bf16_supported())
    if bf16 and not bf16_available():
        raise UserError("config field bf16: bfloat16 needs a CUDA GPU with bf16 or a CPU with native bf16 "
                        "(avx512_bf16 or amx_bf16); this machine has neither")
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
        beta=config.beta if config.beta is not None else algorithm.default_beta,
        epsilon=config.epsilon,
        num_iterations=config.num_iterations,
        loss_type=config.loss_type or algorithm.default_loss_type,
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
        reward_weights=list(reward_weights),
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


def cheap_checks(config: TrainConfig):
    """Every check that needs no model, data or run folder: the algorithm, the rollout backend, the resume
    point, the rewards and TRL's own config. Returns (algorithm, reward_funcs, reward_weights)."""
    from logicrl.algorithms import get_algorithm
    from logicrl.training.rewards import build_rewards

    algorithm = get_algorithm(config.algorithm)
    require_rollout_backend(config)
    run_dir = Path(config.output_dir)
    resolve_resume(config.resume, run_dir, quiet=True)  # a bad --resume fails before anything loads
    reward_funcs, reward_weights = build_rewards(config)  # unknown reward names fail before the model loads
    # TRL validates its settings when its config is built: do it now, before anything loads. The object is
    # dropped and built again after the model (`_build`): a live config with a ZeRO-3 DeepSpeed section would
    # make `from_pretrained` partition the weights before DeepSpeed knows the world size (measured: it fails).
    grpo_args(config, run_dir, algorithm, reward_weights)
    return algorithm, reward_funcs, reward_weights


def build_trainer(config, callbacks=None, overwrite: bool = False):
    """Everything but the training loop: returns (trainer, run_dir).

    `config`: a TrainConfig, dict or YAML path. Extra `callbacks` are added (Ray Train's report callback,
    for instance). Raises UserError for a bad recipe, before the run folder is created or the model loads
    where the check allows. Outside a Ray Train worker the run folder is opened here (`rundir.open_run`:
    its lock, held until `run_trainer` ends, and the fresh/`overwrite`/`resume` checks) and kept as
    `trainer.logicrl_run`; raises `rundir.RunComplete` for `--resume` of a finished run.
    """
    from logicrl.ray.train_ray import in_ray_worker

    config = as_config(config)
    algorithm, reward_funcs, reward_weights = cheap_checks(config)
    run_dir = Path(config.output_dir)
    # In a Ray Train run the driver holds the folder; the workers share it.
    run = None if in_ray_worker() else open_run(config, overwrite=overwrite)
    try:
        trainer = _build(config, callbacks, algorithm, reward_funcs, reward_weights, run_dir)
    except BaseException:
        if run is not None:
            run.abandon()
        raise
    trainer.logicrl_run = run
    return trainer, run_dir


def _build(config: TrainConfig, callbacks, algorithm, reward_funcs, reward_weights, run_dir: Path):
    from transformers import set_seed
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from logicrl.models import load_model_and_tokenizer
    from logicrl.training.data import build_dataset, check_chat_template, heldout_puzzles
    from logicrl.training.rewards import check_reward_columns
    from logicrl.trl_compat import LogicRLTrainer, log_metric

    set_seed(config.seed)
    # The data first (training and held-out puzzles): a data error stops before the model loads and the warm start.
    dataset, puzzles = build_dataset(config)
    check_reward_columns(config, dataset)
    heldout_set = (heldout_puzzles(config, {p.quiz for p in puzzles} if puzzles else set())
                   if config.heldout.every_n_steps else None)
    # An adapter to continue with LoRA is applied below, after the warm start.
    model, tokenizer = load_model_and_tokenizer(config.model, adapter=None if config.lora.enabled else config.adapter)
    tokenizer.padding_side = "left"
    check_chat_template(config, tokenizer)

    if config.warm_start.steps > 0:
        from logicrl.training.warm_start import WARM_START_DIR, run_warm_start

        warm_dir = run_dir / WARM_START_DIR
        if config.resume and (warm_dir / "config.json").is_file():
            # Resuming: a LoRA run's checkpoints hold only the adapter, so its base is the saved warm start;
            # a full fine-tuning checkpoint replaces all weights anyway.
            if config.lora.enabled:
                model, _ = load_model_and_tokenizer(str(warm_dir))
        else:
            model = run_warm_start(config, model, tokenizer, puzzles, run_dir)
            from logicrl.training.rundir import normalize_modes

            normalize_modes(warm_dir)  # safetensors writes 0600

    args = grpo_args(config, run_dir, algorithm, reward_weights)  # after the model (see cheap_checks)
    routing = None
    if config.lora.adapters:  # several named adapters, routed per row (logicrl.training.adapters)
        from logicrl.training.adapters import build_adapters

        model, routing = build_adapters(model, config, references=args.beta != 0.0)
    elif config.lora.enabled:
        from logicrl.training.lora import apply_lora

        model = apply_lora(model, config.lora, adapter=config.adapter)

    curriculum = None
    if config.curriculum.mode != "none":
        from logicrl.training.curriculum import Curriculum

        c = config.curriculum
        curriculum = Curriculum(dataset["n_people"], c.levels, mode=c.mode, steps_per_level=c.steps_per_level,
                                threshold=c.threshold, window=c.window, mix_previous=c.mix_previous)

    rollout_func = None
    if config.rollout_backend == "vllm_lora":
        from logicrl.training.rollout_vllm import make_rollout_func

        rollout_func = make_rollout_func(config, tokenizer)
    agent_kwargs = {}  # Online Sokoban: a rollout_func or an environment_factory (logicrl.training.sokoban)
    if config.data.kind == "sokoban":
        from logicrl.training.sokoban import trainer_kwargs

        agent_kwargs = trainer_kwargs(config, tokenizer, puzzles)
        rollout_func = agent_kwargs.pop("rollout_func", rollout_func)

    run_dir.mkdir(parents=True, exist_ok=True)
    all_callbacks, heldout = _callbacks(config, tokenizer, heldout_set, run_dir, curriculum, bf16=args.bf16)
    trainer = LogicRLTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=all_callbacks + list(callbacks or []) + list(getattr(rollout_func, "callbacks", [])),
        rollout_func=rollout_func,
        **agent_kwargs,
        algorithm=algorithm,
        recipe=config,
        curriculum=curriculum,
        routing=routing,
    )
    for default_bar in (ProgressCallback, PrinterCallback):
        trainer.remove_callback(default_bar)
    if heldout is not None:
        heldout.metric_sink = lambda name, value: log_metric(trainer, name, value)
        if routing is not None:  # held-out K&K puzzles go through the route their task takes
            heldout.route = heldout_route(config)
            heldout.trained_adapters = routing.trained
    if trainer.accelerator.is_main_process:
        from logicrl.fsutil import atomic_write_text

        atomic_write_text(run_dir / "config.json", config_json(config))
    return trainer


def heldout_route(config: TrainConfig) -> str:
    """The route of the held-out K&K puzzles in a routed run: that of the first K&K task of `data.mix` (or of a
    single-task run's rows)."""
    from logicrl.config import router_of

    kk = next((m for m in config.data.mix if m.kind == "kk"), None)
    row = {"task": kk.task} if kk is not None else {}
    return router_of(config).route(row)


def _callbacks(config: TrainConfig, tokenizer, heldout_set, run_dir: Path, curriculum, bf16: bool = False):
    """Our TrainerCallbacks in order (the curriculum first: its level is in every log line), and the
    held-out evaluation callback on `heldout_set` (or None)."""
    from logicrl.training.callbacks import HeldoutEvalCallback, MetricsLogger, PlotCallback, ProgressBar

    logger = MetricsLogger(run_dir)
    callbacks = [logger]
    if curriculum is not None:
        from logicrl.training.curriculum import CurriculumCallback

        callbacks.insert(0, CurriculumCallback(curriculum))
    heldout = None
    if config.heldout.every_n_steps:
        heldout = HeldoutEvalCallback(
            tokenizer, heldout_set, config.heldout.every_n_steps, logger,
            {"max_new_tokens": config.heldout.max_new_tokens, "prompt_style": config.data.prompt_style, "bf16": bf16},
            at_start=config.heldout.at_start)
        callbacks.append(heldout)
    if config.progress_bar:
        callbacks.append(ProgressBar("RL"))
    if config.plot:
        callbacks.append(PlotCallback(run_dir))
    return callbacks, heldout
