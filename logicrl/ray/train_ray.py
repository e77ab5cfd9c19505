"""Training on N Ray Train workers: `TorchTrainer` drives the TRL-based trainer on each worker.

Each worker runs the function `train_on_ray` is given (`logicrl.training.run.ray_worker`: the same
trainer as a local run, with Ray's callbacks added); Ray Train has already
set up torch.distributed (gloo on CPU, nccl on GPU) and the RANK / WORLD_SIZE / MASTER_ADDR variables
that accelerate reads, so the HF/TRL trainer runs as DDP, or as DeepSpeed ZeRO-2/3 when the recipe sets
`trl: {deepspeed: examples/deepspeed_zero2.json}`. A report callback (Ray's `RayTrainReportCallback`,
with rank 0 alone attaching the checkpoint) hands every saved checkpoint to Ray Train; when a worker
fails, Ray Train (`FailureConfig(max_failures)`) restarts the group and each worker resumes from the
latest reported checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

WORKER_ENV = "LOGICRL_IN_RAY_WORKER"
"""Set to "1" inside a Ray Train worker, so `logicrl.train` trains there instead of re-launching Ray."""

FAULT_ENV = "LOGICRL_FAULT_INJECT"
"""Chaos-testing hook: "rank=R,step=S,marker=PATH" makes rank R raise once, when step S+1 begins (after
step S's checkpoint), unless PATH exists; it creates PATH first, so the retry after the restart passes."""

CHECKPOINT_NAME = "checkpoint"
"""The HF checkpoint's folder inside a reported Ray Train checkpoint (the layout of Ray's own callback)."""

ATTEMPTS_FILE = "ray_attempts.jsonl"
"""One line per worker start in `<output_dir>`: rank, world size, which checkpoint it resumed from."""

# Environment forwarded from the driver to the workers (their processes are started by the raylet,
# whose environment may predate ours).
_FORWARD_PREFIXES = ("LOGICRL_", "HF_", "TRANSFORMERS_", "WANDB_", "TOKENIZERS_", "GLOO_", "OMP_NUM_THREADS",
                     "XDG_CACHE_HOME", "ACCELERATE_", "DS_", "PYTORCH_")


def in_ray_worker() -> bool:
    """True inside a Ray Train worker started by `train_on_ray`."""
    return os.environ.get(WORKER_ENV) == "1"


def _forwarded_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(_FORWARD_PREFIXES)}


def _config_dict(config) -> dict:
    """A plain dict of the recipe with paths made absolute (workers may run in another directory)."""
    raw = config.to_dict() if hasattr(config, "to_dict") else dataclasses.asdict(config)
    raw["output_dir"] = str(Path(raw["output_dir"]).expanduser().resolve())
    trl = dict(raw.get("trl") or {})
    ds = trl.get("deepspeed")
    if isinstance(ds, str) and Path(ds).expanduser().is_file():
        trl["deepspeed"] = str(Path(ds).expanduser().resolve())
    raw["trl"] = trl
    data = raw.get("data") or {}
    if data.get("path"):
        data["path"] = str(Path(data["path"]).expanduser().resolve())
    return raw


def train_on_ray(config, worker):
    """Train `config` on `config.ray.num_workers` Ray Train workers; returns Ray Train's last metrics.

    `worker(config, callbacks, prepare, checkpoint, on_start)` runs on each worker (a module-level function,
    shipped by reference): build the trainer with Ray's `callbacks`, `prepare(trainer)`, resume from
    `checkpoint` (Ray's, after a restart) or the recipe's own, call `on_start(resume_path)`, train, finish.
    Raises `RuntimeError` if the run still fails after `config.ray.max_failures` restarts.
    """
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from logicrl.ray.cluster import connect
    from logicrl.ray.settings import validate_settings

    settings = config.ray
    validate_settings(settings)
    # Ray Train's workers replace print() with one that also logs every line aimed at stdout, even while
    # stdout is swapped for a buffer: dill's `dis.dis` capture, run when `datasets` fingerprints a table
    # (Dataset.from_list), then dumped ~10 lines of bytecode per worker into the job log, and every line
    # the trainer printed came out twice. Workers print as plain processes (Ray propagates this variable).
    os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
    loop_config = {"config": _config_dict(config), "env": _forwarded_env(), "worker": worker}
    output_dir = Path(loop_config["config"]["output_dir"])
    storage = settings.storage_path or str(output_dir / "ray")
    if "://" not in storage:
        storage = str(Path(storage).expanduser().resolve())
    connect(settings)
    if config.model == "embedded":  # build the cached default model once, not once per worker
        from logicrl.models import embedded_model_path

        embedded_model_path()
    fleet = None
    if settings.rollout_engines:
        # The driver owns the rollout engines: they start once (a bad setting fails here, in one line), outlive
        # restarts of the worker group, and rank 0 of the workers drives them (logicrl.ray.rollout_dispatch).
        from logicrl.ray.rollout_dispatch import start_engines

        fleet = start_engines(config)
        loop_config["rollout_engines"] = fleet.handles
    trainer = TorchTrainer(
        _train_loop,
        train_loop_config=loop_config,
        torch_config=_torch_config(settings),
        scaling_config=ScalingConfig(num_workers=settings.num_workers, use_gpu=settings.use_gpu,
                                     resources_per_worker={"CPU": settings.cpus_per_worker,
                                                           **({"GPU": 1} if settings.use_gpu else {})}),
        run_config=RunConfig(
            # One Ray Train run per call: failures inside it resume from its checkpoints; a new call starts
            # fresh unless the recipe says `resume` (as a local run does).
            name=f"{output_dir.name or 'logicrl'}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}",
            storage_path=storage,
            failure_config=FailureConfig(max_failures=settings.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=config.save_total_limit),
        ),
    )
    try:
        result = trainer.fit()
    finally:
        if fleet is not None:
            fleet.shutdown()
    if result.error is not None:  # Ray Train V1 returns the error instead of raising it
        raise RuntimeError(f"Ray Train run failed: {result.error}") from result.error
    return dict(result.metrics or {})


def _torch_config(settings):
    """Ray's TorchConfig; on a single-node cluster the process group meets through a file instead.

    torch's TCP rendezvous store listens on every interface; a file store opens no port at all, which
    is what a one-machine run (and a loopback-only test cluster) wants.
    """
    import ray
    from ray.train.torch import TorchConfig

    rendezvous = settings.rendezvous
    if rendezvous == "auto":
        rendezvous = "file" if len([n for n in ray.nodes() if n.get("Alive")]) == 1 else "env"
    if rendezvous == "file":
        return _FileRendezvousTorchConfig(backend=settings.backend)
    return TorchConfig(backend=settings.backend, init_method=rendezvous)


def _file_rendezvous_config_cls():
    from ray.train.torch import TorchConfig
    from ray.train.torch.config import (
        _set_torch_distributed_env_vars,
        _setup_torch_process_group,
        _TorchBackend,
    )

    class FileRendezvousBackend(_TorchBackend):
        def on_start(self, worker_group, backend_config):
            import tempfile
            import uuid

            import ray

            # A fresh file per (re)start: a FileStore must not reuse a file from a failed attempt.
            path = Path(tempfile.gettempdir()) / f"logicrl-rdzv-{uuid.uuid4().hex}"
            self._rendezvous_files = [*getattr(self, "_rendezvous_files", []), path]
            worker_group.execute(_set_loopback_env)
            worker_group.execute(_set_torch_distributed_env_vars)
            ray.get([worker_group.execute_single_async(i, _setup_torch_process_group,
                                                       backend=backend_config.backend or "gloo",
                                                       world_rank=i, world_size=len(worker_group),
                                                       init_method=f"file://{path}",
                                                       timeout_s=backend_config.timeout_s)
                     for i in range(len(worker_group))])

        def on_shutdown(self, worker_group, backend_config):
            try:
                super().on_shutdown(worker_group, backend_config)
            finally:
                for path in getattr(self, "_rendezvous_files", []):
                    path.unlink(missing_ok=True)

    @dataclasses.dataclass
    class FileRendezvousTorchConfig(TorchConfig):
        @property
        def backend_cls(self):
            return FileRendezvousBackend

    return FileRendezvousTorchConfig


def _FileRendezvousTorchConfig(**kwargs):
    return _file_rendezvous_config_cls()(**kwargs)


def _set_loopback_env() -> None:
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")  # read by some libraries; no store listens there


def _train_loop(loop_config: dict) -> None:
    """Runs on every Ray Train worker."""
    os.environ.update(loop_config["env"])
    os.environ[WORKER_ENV] = "1"

    import ray.train
    from ray.train.huggingface.transformers import prepare_trainer

    from logicrl.config import load_config

    config = load_config(loop_config["config"])
    if loop_config.get("rollout_engines"):
        from logicrl.ray.rollout_dispatch import attach_engines

        attach_engines(loop_config["rollout_engines"])
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    callbacks = [_report_callback()]
    fault = _fault_callback(rank)
    if fault is not None:
        callbacks.append(fault)

    def on_start(resume: str | None) -> None:
        _record_attempt(config.output_dir, rank, world, resume)

    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:  # a fresh run may still continue a local checkpoint (`resume: last` / `--resume`)
        loop_config["worker"](config, callbacks, prepare_trainer, None, on_start)
    else:
        with checkpoint.as_directory() as ckpt_dir:
            loop_config["worker"](config, callbacks, prepare_trainer, str(Path(ckpt_dir) / CHECKPOINT_NAME), on_start)


def _report_callback():
    """Reports each saved checkpoint to Ray Train, as Ray's `RayTrainReportCallback` does, but only from the
    process that wrote it (world rank 0, after the save's barrier): other ranks report metrics alone, so
    none copies a checkpoint directory that is still being written.
    """
    import shutil
    import tempfile

    import ray.train
    from ray.train import Checkpoint
    from transformers import TrainerCallback

    class ReportCheckpoints(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                dist.barrier()  # every rank has written its part (RNG state, ZeRO shards) before the copy
            metrics = {}
            for entry in state.log_history:
                metrics.update(entry)
            source = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if not (state.is_world_process_zero and source.is_dir()):
                ray.train.report(metrics=metrics, checkpoint=None)
                return
            with tempfile.TemporaryDirectory() as tmp:
                shutil.copytree(source, Path(tmp) / CHECKPOINT_NAME, ignore=shutil.ignore_patterns(".*.tmp", ".tmp*"))
                ray.train.report(metrics=metrics, checkpoint=Checkpoint.from_directory(tmp))

    return ReportCheckpoints()


def _record_attempt(output_dir: str, rank: int, world: int, resumed_from: str | None) -> None:
    step = None
    if resumed_from:
        state = Path(resumed_from) / "trainer_state.json"
        if state.is_file():
            step = json.loads(state.read_text()).get("global_step")
    line = {"time": round(time.time(), 3), "rank": rank, "world_size": world,
            "resumed_from": resumed_from, "resumed_step": step}
    path = Path(output_dir) / ATTEMPTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:  # one short line per append: no interleaving
        fh.write(json.dumps(line) + "\n")
    print(f"[logicrl.ray] worker rank={rank}/{world} start, resume from: {resumed_from or 'scratch'}", flush=True)


def _fault_callback(rank: int):
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return None
    fields = dict(part.split("=", 1) for part in spec.split(",") if "=" in part)
    if int(fields.get("rank", 0)) != rank:
        return None
    from transformers import TrainerCallback

    step, marker = int(fields.get("step", 1)), Path(fields["marker"])

    class InjectedFault(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step >= step and not marker.exists():
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.write_text(f"rank {rank} failed at step {state.global_step + 1}\n")
                raise RuntimeError(f"injected fault ({FAULT_ENV}) on rank {rank} after step {state.global_step}")

    return InjectedFault()
