"""vLLM rollout engines as Ray actors, fed the trained LoRA adapters through Ray's object store.

Each `RolloutEngine` actor holds one vLLM engine with the base weights, loaded once (`enable_lora`). The
trainer never sends weights at start-up and never a path: after an optimizer update it publishes the
trained adapters once, as bytes (`adapter_payload`: per adapter name, its peft config and a safetensors
blob) put in Ray's object store under a version number (the trainer's `global_step`). A generation call
carries that version and the payload's reference; an engine that has not loaded the version yet fetches the
bytes (Ray moves them between nodes; nothing needs a shared disk), writes them to its own temporary folder
and serves them under a LoRA name and id it never used before, so vLLM's adapter and prefix caches cannot
mix versions. Every completion comes back tagged with the version that generated it.

`EngineFleet` owns N engines in one placement group (resources from the recipe's `ray:` section), splits a
round's requests into balanced shares (a request is one GRPO group: one prompt, n samples, so a group never
spans engines), runs the shares in parallel and returns the results in request order. A dead engine is
restarted by Ray (`max_restarts`) and its share re-run on the new one (Ray's `max_task_retries`, then an
explicit retry here) with the same version and the same per-request seeds: no sample is lost or duplicated.

Chaos hook for tests: `LOGICRL_ENGINE_FAULT="engine=E,version=V,marker=PATH"` makes engine E, on its first
share of version V, write its pid to PATH and stall (so a test can kill it mid-call), unless PATH exists.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from logicrl.errors import UserError, first_line

logger = logging.getLogger(__name__)

ENGINE_FAULT_ENV = "LOGICRL_ENGINE_FAULT"
TRL_REF_ADAPTER = "ref"
"""The adapter TRL adds to a peft model for the KL reference when it re-trains a loaded adapter: never served."""

_FORWARD_PREFIXES = ("LOGICRL_", "HF_", "TRANSFORMERS_", "VLLM_", "TOKENIZERS_", "XDG_CACHE_HOME")


# ------------------------------------------------------------------------------------- adapters as bytes


def trained_adapter_names(model) -> list[str]:
    """The adapters a peft model serves in rollouts: every adapter but TRL's frozen KL reference copy."""
    names = [name for name in getattr(model, "peft_config", {}) if name != TRL_REF_ADAPTER]
    if not names:
        raise UserError("rollout_backend=vllm_lora: the trained model is not a peft (LoRA) model")
    return names


def adapter_payload(model, names: list[str] | None = None) -> dict[str, dict]:
    """{adapter name: {"config": adapter_config.json text, "weights": adapter_model.safetensors bytes}} of a
    peft model, exactly the two files `save_pretrained` would write for each adapter, but in memory."""
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save

    payload = {}
    for name in names or trained_adapter_names(model):
        state = get_peft_model_state_dict(model, adapter_name=name)
        tensors = {key: value.detach().to("cpu").contiguous() for key, value in state.items()}
        config = model.peft_config[name].to_dict()
        config = {key: sorted(value) if isinstance(value, set) else value for key, value in config.items()}
        config["inference_mode"] = True
        payload[name] = {"config": json.dumps(config, indent=2, sort_keys=True, default=str),
                         "weights": save(tensors, metadata={"format": "pt"})}
    return payload


def payload_bytes(payload: dict[str, dict]) -> int:
    """Bytes of a payload's weights and configs (what moves into each engine)."""
    return sum(len(a["weights"]) + len(a["config"].encode()) for a in payload.values())


def write_adapter(adapter: dict, directory: Path) -> Path:
    """Write one payload entry as a peft adapter folder (what vLLM's LoRARequest loads)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "adapter_model.safetensors").write_bytes(adapter["weights"])
    (directory / "adapter_config.json").write_text(adapter["config"], encoding="utf-8")
    return directory


# ------------------------------------------------------------------------------------- shares


def balanced_shares(sizes: list[int], engines: int) -> list[list[int]]:
    """Request indices per engine: whole requests (GRPO groups), loads (sum of sizes) as even as whole
    requests allow (largest first onto the least-loaded engine; ties to the lower index), each share in
    request order. Deterministic."""
    loads = [0] * max(1, engines)
    shares: list[list[int]] = [[] for _ in loads]
    for i in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        e = min(range(len(loads)), key=lambda e: (loads[e], e))
        shares[e].append(i)
        loads[e] += sizes[i]
    return [sorted(share) for share in shares]


# ------------------------------------------------------------------------------------- the actor


class RolloutEngine:
    """One vLLM engine (base weights loaded once, `enable_lora`) serving versioned adapters. A Ray actor.

    `model`: "embedded", a local directory or a hub id, resolved on the engine's node. `engine_options`:
    `vllm.LLM` keyword arguments over the device defaults of `logicrl.vllm_utils.engine_options`.
    """

    def __init__(self, index: int, model: str, engine_options: dict, keep_versions: int = 2):
        self.index = index
        self.version: int | None = None
        self.lora_requests: dict = {}  # adapter name -> LoRARequest of the loaded version
        self.keep_versions = max(1, keep_versions)
        self._next_id = 1
        self._dirs: list[Path] = []
        self.workdir = Path(tempfile.mkdtemp(prefix=f"logicrl-engine{index}-"))
        self.error = None
        start = time.perf_counter()
        try:
            from logicrl.models import resolve_model_path
            from logicrl.vllm_utils import make_llm

            self.llm = make_llm(resolve_model_path(model), **engine_options)
        except Exception as exc:  # noqa: BLE001  (reported by ready() as one line; the fleet raises a UserError)
            self.llm = None
            self.error = f"{type(exc).__name__}: {first_line(exc)}" if not isinstance(exc, UserError) else str(exc)
        self.start_seconds = time.perf_counter() - start

    def ready(self) -> dict:
        import ray

        return {"index": self.index, "pid": os.getpid(), "error": self.error, "start_seconds": self.start_seconds,
                "node_id": ray.get_runtime_context().get_node_id()}

    def _load(self, version: int, payload_box: dict) -> float:
        """Serve `version`'s adapters (fetched from the object store once per version). Returns seconds."""
        if version == self.version:
            return 0.0
        import ray
        from vllm.lora.request import LoRARequest

        start = time.perf_counter()
        payload = ray.get(payload_box["ref"])
        requests = {}
        for name, adapter in payload.items():
            lora_id = self._next_id
            self._next_id += 1
            path = write_adapter(adapter, self.workdir / f"{lora_id:05d}-{name}-v{version}")
            self._dirs.append(path)
            # A new name and a new id per (adapter, version): vLLM's LoRA and prefix caches key on them.
            requests[name] = LoRARequest(f"{name}@v{version}#{lora_id}", lora_id, str(path))
        self.lora_requests, self.version = requests, version
        while len(self._dirs) > self.keep_versions * max(1, len(requests)):
            shutil.rmtree(self._dirs.pop(0), ignore_errors=True)
        return time.perf_counter() - start

    def generate(self, version: int, payload_box: dict, requests: list[dict]) -> dict:
        """Generate `requests` ({"prompt_ids", "adapter", "params"}: one prompt, `params` of
        `vllm.SamplingParams` with `n` samples) with the adapters of `version`.

        Returns {"version", "pid", "load_seconds", "generate_seconds", "results": per request
        {"completion_ids": [n lists], "logprobs": [n lists]}}.
        """
        if self.llm is None:
            raise RuntimeError(f"rollout engine {self.index} did not start: {self.error}")
        from vllm import SamplingParams, TokensPrompt

        load_seconds = self._load(version, payload_box)
        _maybe_stall(self.index, version)
        start = time.perf_counter()
        lora = [self._lora_request(r.get("adapter")) for r in requests]
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=list(r["prompt_ids"])) for r in requests],
                                    [SamplingParams(**r["params"]) for r in requests], lora_request=lora,
                                    use_tqdm=False)
        results = []
        for output in outputs:
            choices = list(output.outputs)
            results.append({
                "completion_ids": [list(c.token_ids) for c in choices],
                "logprobs": [_sampled_logprobs(c) for c in choices],
            })
        return {"version": version, "pid": os.getpid(), "load_seconds": load_seconds,
                "generate_seconds": time.perf_counter() - start, "results": results}

    def _lora_request(self, adapter: str | None):
        if adapter is None:  # the base model (a "__base__" route)
            return None
        if adapter not in self.lora_requests:
            raise KeyError(f"adapter {adapter!r} was not published (have: {sorted(self.lora_requests)})")
        return self.lora_requests[adapter]

    def pid(self) -> int:
        return os.getpid()

    def __del__(self):
        shutil.rmtree(getattr(self, "workdir", ""), ignore_errors=True)


def _sampled_logprobs(choice) -> list[float]:
    if choice.logprobs is None:
        return []
    from logicrl.training.rollout_vllm import _sampled_logprob

    return [_sampled_logprob(lp, tok) for lp, tok in zip(choice.logprobs, choice.token_ids)]


def _maybe_stall(index: int, version: int) -> None:
    spec = os.environ.get(ENGINE_FAULT_ENV)
    if not spec:
        return
    fields = dict(part.split("=", 1) for part in spec.split(",") if "=" in part)
    if int(fields.get("engine", -1)) != index or int(fields.get("version", -1)) != version:
        return
    marker = Path(fields["marker"])
    if marker.exists():
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(os.getpid()))
    time.sleep(float(fields.get("seconds", 300)))  # the test kills this process meanwhile


# ------------------------------------------------------------------------------------- the fleet


class EngineFleet:
    """N `RolloutEngine` actors in one placement group, and the current adapter version they serve.

    Build with `EngineFleet.start(settings, model, engine_options)` (the process that calls it owns the
    engines; Ray restarts a dead one), or `EngineFleet(handles)` to use engines another process owns (the
    Ray Train workers use the driver's). `publish` then `generate` per round; `shutdown` at the end.
    """

    def __init__(self, handles: list, placement_group=None, retries: int = 3):
        self.handles = list(handles)
        self.placement_group = placement_group
        self.retries = retries
        self.version: int | None = None
        self._payload_box: dict | None = None
        self.published_bytes = 0
        self.adapter_names: list[str] = []
        self.history: list[dict] = []  # one entry per share run: round, engine, version, pid, sizes, seconds
        self.engine_pids: list[int | None] = [None] * len(self.handles)  # last seen process of each engine
        self.restarts = 0  # engine processes seen replaced (Ray restarted a dead engine)
        self._round = 0

    @classmethod
    def start(cls, settings, model: str, engine_options: dict) -> EngineFleet:
        """Start `settings.rollout_engines` engines and wait until each has loaded the model.

        Raises UserError naming `ray.rollout_engines` when they cannot be placed or an engine cannot start.
        """
        import ray
        from ray.exceptions import GetTimeoutError
        from ray.util.placement_group import placement_group, remove_placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        from logicrl.ray.cluster import connect

        connect(settings)
        n = settings.rollout_engines
        bundle = {"CPU": float(settings.rollout_engine_cpus), **dict(settings.rollout_engine_resources)}
        if settings.rollout_engine_gpus:
            bundle["GPU"] = float(settings.rollout_engine_gpus)
        bundle = {k: v for k, v in bundle.items() if v}

        def cannot_place(have):
            return UserError(f"config field ray.rollout_engines: {n} engines of {bundle} cannot be placed "
                             f"({settings.rollout_placement}) on this cluster ({have}); lower "
                             f"ray.rollout_engine_cpus / rollout_engine_gpus or add nodes")

        total = ray.cluster_resources()
        if any(total.get(k, 0.0) < v * n for k, v in bundle.items()):  # never fits: say so now, not after a wait
            raise cannot_place(f"total: { {k: total.get(k, 0.0) for k in bundle} }")
        pg = placement_group([dict(bundle) for _ in range(n)], strategy=settings.rollout_placement)
        try:
            ray.get(pg.ready(), timeout=min(120.0, settings.rollout_start_timeout))
        except GetTimeoutError:
            remove_placement_group(pg)
            raise cannot_place(f"free after 120 s: { {k: ray.available_resources().get(k, 0.0) for k in bundle} }") \
                from None
        actor_cls = ray.remote(RolloutEngine)
        actors = []
        for i in range(n):
            actors.append(actor_cls.options(
                num_cpus=bundle.get("CPU", 0), num_gpus=bundle.get("GPU", 0),
                resources={k: v for k, v in bundle.items() if k not in ("CPU", "GPU")},
                max_restarts=settings.rollout_max_restarts, max_task_retries=settings.rollout_max_restarts,
                scheduling_strategy=PlacementGroupSchedulingStrategy(placement_group=pg,
                                                                     placement_group_bundle_index=i),
                runtime_env=engine_runtime_env(settings), name=None,
            ).remote(i, model, engine_options))
        fleet = cls(actors, placement_group=pg, retries=settings.rollout_max_restarts)
        try:
            fleet.wait_ready(settings.rollout_start_timeout)
        except BaseException:
            fleet.shutdown()
            raise
        return fleet

    def wait_ready(self, timeout: float) -> list[dict]:
        """Block until every engine has started; UserError (one line, naming the field) if one cannot."""
        import ray
        from ray.exceptions import GetTimeoutError, RayError

        start = time.perf_counter()
        infos = []
        for i, actor in enumerate(self.handles):
            left = max(1.0, timeout - (time.perf_counter() - start))
            try:
                info = ray.get(actor.ready.remote(), timeout=left)
            except GetTimeoutError:
                raise UserError(f"config field ray.rollout_engines: engine {i} did not start within "
                                f"{timeout:.0f} s (ray.rollout_start_timeout)") from None
            except RayError as exc:
                raise UserError(f"config field ray.rollout_engines: engine {i} cannot start: "
                                f"{_error_line(exc)}") from None
            if info["error"]:
                raise UserError(f"config field ray.rollout_engines: engine {i} cannot start: {info['error']}")
            infos.append(info)
        self.start_infos = infos
        self.engine_pids = [info["pid"] for info in infos]
        return infos

    # ---- adapters

    def publish(self, payload: dict[str, dict], version: int) -> int:
        """Put the adapters of `version` in the object store once; engines fetch them at their next call.
        Returns the payload's size in bytes."""
        import ray

        self._payload_box = {"ref": ray.put(payload)}  # nested: Ray passes the reference, not the bytes
        self.version = int(version)
        self.adapter_names = list(payload)
        self.published_bytes = payload_bytes(payload)
        return self.published_bytes

    # ---- generation

    def generate(self, requests: list[dict]) -> list[dict]:
        """Run `requests` (see `RolloutEngine.generate`) on the engines in balanced shares, in parallel;
        returns one result per request, in order, each with the `version` that generated it."""
        if not requests:
            return []
        shares = balanced_shares([int(r["params"].get("n", 1)) for r in requests], len(self.handles))
        self._round += 1
        return self._run({e: share for e, share in enumerate(shares) if share}, requests)

    def generate_on(self, engine: int, requests: list[dict]) -> list[dict]:
        """Run all `requests` on one engine (checks, evaluation)."""
        self._round += 1
        return self._run({engine: list(range(len(requests)))}, requests)

    def _run(self, shares: dict[int, list[int]], requests: list[dict]) -> list[dict]:
        import ray
        from ray.exceptions import RayActorError

        if self._payload_box is None:
            raise RuntimeError("no adapters published yet: call publish() before generate()")
        version, box = self.version, self._payload_box

        def submit(e):
            return self.handles[e].generate.remote(version, box, [requests[i] for i in shares[e]])

        pending = {e: submit(e) for e in shares}
        attempts = dict.fromkeys(shares, 0)
        out: list[dict | None] = [None] * len(requests)
        while pending:
            ready, _ = ray.wait(list(pending.values()), num_returns=1)
            e = next(k for k, ref in pending.items() if ref == ready[0])
            try:
                reply = ray.get(ready[0])
            except RayActorError as exc:  # Ray's own task retries are spent; the engine may be back already
                attempts[e] += 1
                if attempts[e] > self.retries:
                    raise RuntimeError(f"rollout engine {e} failed {attempts[e]} times: {_error_line(exc)}") from exc
                logger.warning("rollout engine %d died (%s); generating its share again", e, type(exc).__name__)
                pending[e] = submit(e)
                continue
            del pending[e]
            if reply["version"] != version or len(reply["results"]) != len(shares[e]):
                raise RuntimeError(f"rollout engine {e} answered version {reply['version']} with "
                                   f"{len(reply['results'])} results for version {version}, {len(shares[e])} requests")
            for i, result in zip(shares[e], reply["results"]):
                out[i] = {**result, "version": reply["version"]}
            restarted = self.engine_pids[e] is not None and self.engine_pids[e] != reply["pid"]
            self.restarts += int(restarted)
            self.engine_pids[e] = reply["pid"]
            self.history.append({"round": self._round, "engine": e, "version": version, "pid": reply["pid"],
                                 "restarted": restarted, "requests": len(shares[e]), "attempts": attempts[e] + 1,
                                 "load_seconds": reply["load_seconds"],
                                 "generate_seconds": reply["generate_seconds"]})
        return out  # type: ignore[return-value]

    def pids(self) -> list[int]:
        import ray

        return ray.get([h.pid.remote() for h in self.handles])

    def shutdown(self) -> None:
        """Kill the engines (no restart) and free their placement group."""
        import ray

        for actor in self.handles:
            with contextlib.suppress(Exception):  # already gone
                ray.kill(actor, no_restart=True)
        self.handles = []
        if self.placement_group is not None:
            from ray.util.placement_group import remove_placement_group

            with contextlib.suppress(Exception):
                remove_placement_group(self.placement_group)
            self.placement_group = None


def engine_runtime_env(settings) -> dict:
    """The engines' runtime_env: the recipe's `ray.rollout_runtime_env`, with this process's LOGICRL_/HF_/
    VLLM_ variables (vLLM's engine core in-process unless VLLM_ENABLE_V1_MULTIPROCESSING says otherwise) and,
    when `rollout_engine_threads` is set, the thread bounds of a CPU engine."""
    runtime_env = dict(settings.rollout_runtime_env or {})
    # vLLM's engine core inside the actor's process, not a process of its own: half the start-up time on CPU
    # (16 s instead of 35 s for the embedded model), and a killed actor leaves no engine process behind.
    env = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    env.update({k: v for k, v in os.environ.items() if k.startswith(_FORWARD_PREFIXES)})
    if settings.rollout_engine_threads:
        threads = str(settings.rollout_engine_threads)
        # vLLM's CPU backend pins its threads to cores ("auto"); two engines on one machine would pin the same
        # cores, so leave placement to the OS and bound the thread count instead.
        env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, VLLM_CPU_OMP_THREADS_BIND="nobind")
    env.update({k: str(v) for k, v in (runtime_env.pop("env_vars", None) or {}).items()})
    if env:
        runtime_env["env_vars"] = env
    return runtime_env


def _error_line(exc: BaseException) -> str:
    """One line out of a Ray error (whose str holds a traceback): the innermost cause's first line."""
    cause = getattr(exc, "cause", None)
    if cause is not None and cause is not exc:
        return f"{type(cause).__name__}: {first_line(cause)}"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line.split(":", 1)[0]]
    return (errors[-1] if errors else lines[0] if lines else type(exc).__name__)[:300]
