"""The `ray:` section of a training recipe (plain dataclass, no Ray import)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RaySettings:
    """How a run spreads over a Ray cluster. All zeros / None means: run locally, no Ray."""

    address: str | None = None
    """Ray cluster address for `logicrl submit` / `ray.init` ("auto", "http://127.0.0.1:8265", ...).
    None: start nothing, run locally unless a field below asks for Ray."""

    num_workers: int = 0
    """Training workers for Ray Train's TorchTrainer (0 = train in this process, no Ray Train)."""

    use_gpu: bool = False
    """Whether each training worker needs one GPU."""

    backend: str = "gloo"
    """torch.distributed backend for the workers: "gloo" (CPU) or "nccl" (GPU)."""

    reward_actors: int = 0
    """Reward-scoring actors (0 = score in the training process). Worth it only for heavy rewards."""

    rollout_engines: int = 0
    """vLLM generation servers as Ray actors on GPU nodes (0 = none)."""

    max_failures: int = 1
    """Ray Train failure config: how many times a failed worker group is restarted from the last checkpoint."""

    runtime_env: dict = field(default_factory=dict)
    """Extra runtime_env for submitted jobs (env_vars, pip, working_dir...)."""
