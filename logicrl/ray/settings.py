"""The `ray:` section of a training recipe (plain dataclass, no Ray import)."""

from __future__ import annotations

from dataclasses import dataclass, field

from logicrl.bounds import bounded, check_bounds

PLACEMENT_STRATEGIES = ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD")


@dataclass
class RaySettings:
    """How a run spreads over a Ray cluster. All zeros / None means: run locally, no Ray."""

    address: str | None = None
    """Ray cluster address for `logicrl submit` / `ray.init` ("auto", "http://127.0.0.1:8265", ...).
    None: start nothing, run locally unless a field below asks for Ray."""

    num_workers: int = bounded(0, ge=0)
    """Training workers for Ray Train's TorchTrainer (0 = train in this process, no Ray Train)."""

    use_gpu: bool = False
    """Whether each training worker needs one GPU."""

    backend: str = "gloo"
    """torch.distributed backend for the workers: "gloo" (CPU) or "nccl" (GPU)."""

    rendezvous: str = "auto"
    """How the training workers' process group meets: "env" (torch's TCP store on rank 0; needed across
    nodes), "file" (a file store, one node only, opens no port) or "auto" (file on a one-node cluster)."""

    reward_actors: int = bounded(0, ge=0)
    """Reward-scoring actors (0 = score in the training process). Worth it only for heavy rewards."""

    rollout_engines: int = bounded(0, ge=0)
    """vLLM engines as Ray actors for `rollout_backend: vllm_lora` (LoRA only): each holds the base weights
    once and receives only the trained adapters, through Ray's object store, after every update
    (`logicrl.ray.rollout_engines`). 0 = the engine runs inside the training process."""

    rollout_engine_cpus: float = bounded(1.0, ge=0)
    """CPUs reserved for each rollout engine (fractions allowed: 0.5 lets two engines share a core's slot)."""

    rollout_engine_gpus: float = bounded(0.0, ge=0)
    """GPUs reserved for each rollout engine (1 on a GPU cluster; 0 on vLLM's CPU build)."""

    rollout_engine_resources: dict = field(default_factory=dict)
    """Custom Ray resources each engine needs, e.g. {"vllm_node": 1} to keep the engines on labelled nodes."""

    rollout_placement: str = "PACK"
    """Placement group strategy of the engines' bundles: PACK, SPREAD, STRICT_PACK or STRICT_SPREAD."""

    rollout_engine_threads: int = bounded(0, ge=0)
    """CPU engines: torch/OpenMP threads per engine, without core pinning (0: vLLM's own choice, which pins
    threads to cores and suits one engine per machine). Bound it when several engines share a machine."""

    rollout_max_restarts: int = bounded(3, ge=0)
    """How many times Ray restarts a dead engine; its share of the round is generated again on the new one."""

    rollout_start_timeout: float = bounded(900.0, gt=0)
    """Seconds to wait for the engines to start (vLLM start-up, model load) before failing."""

    rollout_runtime_env: dict = field(default_factory=dict)
    """Ray runtime_env of the engine actors, e.g. {"py_executable": "/opt/vllm-env/bin/python"} to run them in
    another environment than the trainer (same Python and Ray versions)."""

    max_failures: int = bounded(1, ge=0)
    """Ray Train failure config: how many times a failed worker group is restarted from the last checkpoint."""

    runtime_env: dict = field(default_factory=dict)
    """Extra runtime_env for submitted jobs (env_vars, pip, working_dir...)."""

    cpus_per_worker: float = bounded(1.0, ge=0)
    """CPUs reserved for each training worker (Ray Train `resources_per_worker`)."""

    reward_actor_cpus: float = bounded(1.0, ge=0)
    """CPUs reserved for each reward actor."""

    reward_max_restarts: int = bounded(3, ge=0)
    """How many times Ray restarts a dead reward actor (its chunk is retried on the new one)."""

    storage_path: str | None = None
    """Where Ray Train keeps reported checkpoints and run state (a shared file system or s3:// / gs://
    on a multi-node cluster). None: `<output_dir>/ray`."""


def validate_settings(settings: RaySettings) -> None:
    """Check values types alone do not catch; raises `logicrl.errors.UserError` naming the field."""
    from logicrl.errors import UserError

    if settings.backend not in ("gloo", "nccl"):
        raise UserError(f"config field ray.backend: {settings.backend!r} is not gloo or nccl")
    if settings.rendezvous not in ("auto", "env", "tcp", "file"):
        raise UserError(f"config field ray.rendezvous: {settings.rendezvous!r} is not auto, env, tcp or file")
    check_bounds(settings, "ray.")  # the ranges declared on the fields above
    if settings.rollout_placement not in PLACEMENT_STRATEGIES:
        raise UserError(f"config field ray.rollout_placement: {settings.rollout_placement!r} is not one of "
                        f"{', '.join(PLACEMENT_STRATEGIES)}")
    if settings.rollout_engines and settings.rollout_engine_cpus + settings.rollout_engine_gpus <= 0:
        raise UserError("config field ray.rollout_engine_cpus: an engine needs some CPU or GPU (with "
                        "ray.rollout_engine_gpus); got 0 for both")


def validate_rollout_engines(config) -> None:
    """Cross-section checks of `ray.rollout_engines` on a whole `TrainConfig` (UserError naming the field).

    Engines as Ray actors serve LoRA adapters on frozen base weights, so they need `rollout_backend:
    vllm_lora` with `lora.enabled`; the base they load is `model` as on disk, so a warm start (which
    changes the base weights in the trainer only) cannot be served by them.
    """
    from logicrl.errors import UserError

    n = config.ray.rollout_engines
    if not n:
        return
    if config.rollout_backend != "vllm_lora":
        raise UserError(f"config field ray.rollout_engines: {n} engines need rollout_backend: vllm_lora (adapter "
                        f"sync, LoRA), got {config.rollout_backend!r}; full fine-tuning keeps TRL's vLLM path "
                        f"(rollout_backend: vllm, docs/ray.md)")
    if not config.lora.enabled:
        raise UserError("config field ray.rollout_engines: the engines serve LoRA adapters: set lora.enabled: true")
    if config.warm_start.steps:
        raise UserError("config field ray.rollout_engines: a warm start changes the base weights in the trainer "
                        "only, which the engines cannot serve; set warm_start.steps: 0 or ray.rollout_engines: 0")
