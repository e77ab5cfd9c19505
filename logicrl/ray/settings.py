"""The `ray:` section of a training recipe (plain dataclass, no Ray import)."""

from __future__ import annotations

from dataclasses import dataclass, field

from logicrl.bounds import bounded, check_bounds


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
    """Reserved; must be 0. vLLM generation servers on GPU nodes run as a Ray job of `trl vllm-serve` (its
    workers are Ray actors in a placement group); see docs/ray.md."""

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
    if settings.rollout_engines:
        raise UserError("config field ray.rollout_engines: not implemented here; run `trl vllm-serve` on the "
                        "vLLM nodes as a Ray job and set rollout_backend: vllm, vllm_mode: server (docs/ray.md)")
