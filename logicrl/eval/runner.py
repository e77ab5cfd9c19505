"""Run an evaluation: generate, grade, log every sample, summarise.

Output folder:
- `samples.jsonl`: one line per sample (problem id, sample index, prompt, completion, extracted
  answer, verdict, format, length). Lines are appended and fsync'ed after every batch, so a killed run
  loses at most the batch in flight; a rerun into the same folder skips every finished sample.
- `run.json`: the settings that define the samples (model, benchmark, sampling...). A rerun with
  different settings is refused; more `--samples` or a larger `--limit` extends the run.
- `summary.json`: the metrics (written atomically at the end), also printed as a table.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import zlib
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from logicrl.errors import UserError
from logicrl.eval.benchmarks import KK_COUNT, KK_SEED, Benchmark, Problem, load_benchmark
from logicrl.eval.metrics import compute_metrics
from logicrl.eval.prompts import DEFAULT_INSTRUCTION, Prompt, build_prompt, resolve_style, style_for_training
from logicrl.fsutil import atomic_write_text

SAMPLES_FILE = "samples.jsonl"
SUMMARY_FILE = "summary.json"
RUN_FILE = "run.json"


@dataclass
class EvalConfig:
    """Settings of `logicrl eval`."""

    model: str = "embedded"
    """Model: "embedded", a local directory or a hub id (for `openai`, the served model's name)."""
    benchmark: str = "kk"
    """aime24, aime25, amc23, kk, kk:N, kk:LOW-HIGH, or a JSONL file (problem/answer or K&K records)."""
    adapter: str | None = None
    """A peft (LoRA) adapter directory applied on top of the model (hf, vllm)."""
    adapters: str | dict | None = None
    """Routed adapters (hf, vllm): {name: directory}, "NAME=PATH,NAME=PATH", or a folder holding routing.json and
    adapters/<name>/ (a routed run's final/)."""
    routing: str | None = None
    """With `adapters`: the routing file (routing.json, or YAML/JSON with by, map, default)."""
    route: str | None = None
    """With `adapters`: one route forced for every problem (an adapter name or "__base__")."""
    samples: int = 1
    """Completions per problem (k of pass@k, maj@k)."""
    temperature: float | None = None
    """Sampling temperature; 0 means greedy decoding. None: 0.6 (magebench-sokoban: 0.1, MageBench's)."""
    top_p: float = 0.95
    """Nucleus sampling threshold."""
    max_tokens: int | None = None
    """Most new tokens per completion (the hf backend also stops at the model's context length). None: 4096
    (magebench-sokoban: 1000 Global, 300 Online, MageBench's)."""
    backend: str = "hf"
    """hf, vllm or openai."""
    base_url: str | None = None
    """openai backend: the server, e.g. http://localhost:8000/v1."""
    out: str | None = None
    """Output folder (samples.jsonl, run.json, summary.json); reused to resume. Default
    eval_out/<model>/<benchmark> (see `default_out_dir`)."""
    data_dir: str | None = None
    """Folder with aime24.jsonl, aime25.jsonl, amc23.jsonl (default: $LOGICRL_DATA_DIR)."""
    limit: int | None = None
    """Evaluate only the first N problems."""
    prompt_style: str = "auto"
    """auto, chat, base, think, think-base or compact (see logicrl.eval.prompts.STYLES). auto: the style the
    model was trained with when a LogicRL run wrote it (its saved recipe), else think (K&K) / chat (math)."""
    instruction: str = DEFAULT_INSTRUCTION
    """Instruction appended to the problem in the chat and base styles."""
    seed: int = 0
    """Sampling seed (each batch derives its own from this and its first problem)."""
    kk_seed: int = KK_SEED
    """Seed of the generated K&K benchmark."""
    kk_count: int = KK_COUNT
    """Generated K&K puzzles per size."""
    kk_names: list[str] | None = None
    """Fixed names for the generated K&K puzzles (person i is kk_names[i]). None: the names of the run's
    recipe (`data.names`) when the model was trained with fixed names, else names drawn per puzzle."""
    kk_parser: str = "strict"
    """K&K answer parser: "strict" (rewards.kk.parse_answer: negations, role-first and list forms, the
    parser the `partial` training preset uses) or "logic_rl" (Logic-RL's own parser, for numbers comparable
    with the Logic-RL paper). Stored in the summary as `kk_parser`."""
    batch_size: int | None = None
    """Prompts per generate call, and how often the log is synced (default per backend:
    DEFAULT_BATCH_SIZES; vLLM and HTTP servers batch better with more prompts at once)."""
    device: str | None = None
    """hf backend: torch device (default cuda if available, else cpu)."""
    dtype: str | None = None
    """hf backend: torch dtype name (default float32)."""
    progress: bool = True
    """Show a progress bar."""
    backend_options: dict = field(default_factory=dict)
    """Extra keyword options for the backend constructor."""
    levels: str = "mini"
    """magebench-sokoban: the level set, "mini" (20 levels), "all" (182) or an XSB file or folder."""
    parser: str = "magebench"
    """magebench-sokoban: the reply parser, "magebench" (MageBench's own, comparable scores) or "tolerant"."""
    observation: str | None = None
    """magebench-sokoban: how the scene is shown, "text" (grid), "image" (PNG data URL) or "both". None: image
    for the openai backend, text for hf and vllm."""
    max_turns: int = 50
    """magebench-sokoban:online: turns per episode (MageBench: 50)."""


DEFAULT_BATCH_SIZES = {"hf": 8, "vllm": 256, "openai": 64}

# Settings that change what a sample means; a resumed run must match them.
_RUN_KEYS = ("model", "adapter", "benchmark", "temperature", "top_p", "max_tokens", "prompt_style",
             "instruction", "seed", "kk_seed", "kk_count", "route")


# --------------------------------------------------------------------------------------------------
# Grading


KK_PARSERS = ("strict", "logic_rl")


def _math_module():
    import rewards.math as math_rewards

    return math_rewards


def extract_math_answer(text: str) -> str | None:
    """The final answer of a math completion: `rewards.answer.final_answer`, the rule the `math` reward
    uses (the last closed <answer> block, its last \\boxed{} if any; else the last \\boxed{})."""
    from rewards.answer import final_answer

    return final_answer(text)


def grade(problem: Problem, prompt: Prompt, completion: str, style: str, kk_parser: str = "strict") -> dict:
    """{"extracted", "correct", "format_ok"} for one completion.

    K&K: think styles: Logic-RL's tag format check, then `kk_parser` ("strict": rewards.kk.parse_answer;
    "logic_rl": Logic-RL's parser) over the answer block; correct when every person's role matches. Chat/base
    styles: the same parser over the last closed <answer> block, else the completion's last paragraph.
    Math: the answer by `extract_math_answer` (shared with the `math` reward), checked by
    `rewards.math.is_equivalent`. format_ok is the tag format (think styles) or "an answer could be read"
    (chat/base styles).
    """
    think = style.startswith("think")
    response = prompt.prefill + completion
    if problem.kind == "kk":
        return _grade_kk(problem, prompt, completion, response, think, kk_parser)
    from rewards.format import check_format

    extracted = extract_math_answer(response)
    correct = bool(extracted) and bool(_math_module().is_equivalent(extracted, problem.answer))
    format_ok = check_format(completion, think_prefilled=bool(prompt.prefill)).ok if think else extracted is not None
    return {"extracted": extracted, "correct": correct, "format_ok": bool(format_ok)}


def _roles(record: dict) -> tuple[str, str] | None:
    kk = record.get("knight_knave")
    if isinstance(kk, dict) and "knight" in kk and "knave" in kk:
        return (kk["knight"], kk["knave"])
    return None


_KK_REWARDS: dict = {}


def _kk_reward(parser: str):
    """The `kk` reward with Logic-RL's format check, `parser` and exact scoring (built once per parser)."""
    if parser not in _KK_REWARDS:
        from rewards.kk import make_kk_reward

        _KK_REWARDS[parser] = make_kk_reward(preset="logic_rl", parser=parser)
    return _KK_REWARDS[parser]


def _kk_parse(answer_text: str, truth: str, roles, parser: str) -> tuple[dict | None, dict]:
    """(predicted, expected) assignments of one answer text by `parser`."""
    from rewards.kk import DEFAULT_ROLES, logic_rl_parse, parse_answer, parse_ground_truth, reference_expected

    if parser == "logic_rl":
        pair = tuple(r.lower() for r in roles) if roles else DEFAULT_ROLES
        expected = reference_expected(truth, pair)
        return (logic_rl_parse(answer_text, tuple(expected), pair) if expected else None), expected
    expected, pair = parse_ground_truth(truth, roles)
    return (parse_answer(answer_text, tuple(expected), pair) if expected else None), expected


def _grade_kk(problem: Problem, prompt: Prompt, completion: str, response: str, think: bool,
              parser: str = "strict") -> dict:
    from rewards.answer import last_answer_block
    from rewards.kk import logic_rl_format, logic_rl_text

    if parser not in KK_PARSERS:
        raise ValueError(f"unknown K&K parser {parser!r}; choose one of {', '.join(KK_PARSERS)}")
    roles = _roles(problem.record)
    if think:
        row = _kk_reward(parser).breakdown([prompt.content], [completion], solution_text_format=[problem.answer],
                                           roles=[roles])[0]
        ok, answer_text = logic_rl_format(logic_rl_text(prompt.content, completion))
        return {"extracted": answer_text if ok else None, "correct": row["correct"] == 1.0,
                "format_ok": row["format"] > 0}
    answer_text = last_answer_block(response)
    if answer_text is None:
        answer_text = response.strip().split("\n\n")[-1][-2000:]
    answer_text = answer_text.strip()
    predicted, expected = _kk_parse(answer_text, problem.answer, roles, parser)
    return {"extracted": answer_text if predicted is not None else None,
            "correct": predicted is not None and predicted == expected,
            "format_ok": predicted is not None}


# --------------------------------------------------------------------------------------------------
# The sample log


def read_samples(path: Path) -> dict[tuple[str, int], dict]:
    """Finished samples keyed by (problem id, sample index). A last line cut off by a kill is dropped
    and cut from the file, so the next append starts on a clean line; duplicates keep the first."""
    done: dict[tuple[str, int], dict] = {}
    if not path.exists():
        return done
    data = path.read_bytes()
    good_end = 0
    offset = 0
    for raw in data.splitlines(keepends=True):
        offset += len(raw)
        if not raw.endswith(b"\n"):
            break  # truncated tail
        try:
            record = json.loads(raw)
            key = (str(record["problem_id"]), int(record["sample"]))
        except (ValueError, KeyError, TypeError):
            if offset == len(data):
                break
            raise UserError(f"{path}: a line in the middle is not a sample record; use another --out") from None
        done.setdefault(key, record)
        good_end = offset
    if good_end < len(data):
        with open(path, "r+b") as f:
            f.truncate(good_end)
    return done


def _check_run_file(out: Path, settings: dict) -> None:
    """Refuse a folder that holds a run with other settings."""
    run_file = out / RUN_FILE
    if run_file.exists():
        try:
            previous = json.loads(run_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise UserError(f"{run_file} is unreadable; use another --out") from None
        changed = [k for k in settings if k in previous and previous[k] != settings[k]]
        if changed == ["weights_fingerprint"]:
            raise UserError(f"{out} holds samples of other weights under the same path (the model or adapter "
                            "files changed since, e.g. retrained): use another --out")
        if changed:
            k = changed[0]
            raise UserError(f"{out} holds a run with {k}={previous[k]!r}, not {settings[k]!r}; "
                            "use another --out (or the same settings to resume)")


_GENERIC_FOLDERS = re.compile(r"final|merged(-.+)?|warm_start|rl|adapters|checkpoint-\d+")
"""Folder names every LogicRL run uses for its models: a default --out names the run folder above them too."""


def default_out_dir(config: EvalConfig) -> Path:
    """eval_out/<model>/<benchmark>[+<adapter>], names reduced to safe characters. A local folder is named by
    its last component, with the folders above it while that is a run's generic model folder
    (`runs/a/final` -> `a--final`); a hub id by all of it (`Qwen--Qwen2.5-7B`)."""
    def safe(text) -> str:
        text = str(text).rstrip("/").replace("\\", "/")
        if "/" in text and Path(text).exists():
            parts = [p for p in text.split("/") if p not in ("", ".")]
            keep = 1
            while keep < len(parts) and _GENERIC_FOLDERS.fullmatch(parts[-keep]):
                keep += 1
            text = "--".join(parts[-keep:])
        else:
            text = text.replace("/", "--")
        return re.sub(r"[^A-Za-z0-9._+=-]+", "_", text)[:80] or "_"

    model = safe(config.model) + (f"+{safe(config.adapter)}" if config.adapter else "")
    return Path("eval_out") / model / safe(config.benchmark)


def _fingerprint(benchmark: Benchmark) -> str:
    h = hashlib.sha256()
    for p in benchmark.problems:
        h.update(f"{p.id}\x00{p.problem}\x00{p.answer}\x01".encode())
    return h.hexdigest()[:16]


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def weights_fingerprint(paths) -> str | None:
    """A short hash of the weight files (name, size, modification time) in the local model and adapter folders
    `paths` (hub ids and other names are skipped), None when none is a local folder. Retraining into the same
    folder changes it, so a rerun into the same --out does not resume the old weights' samples."""
    h = hashlib.sha256()
    seen = False
    for path in paths:
        folder = Path(str(path)).expanduser() if path else None
        if folder is None or not folder.is_dir():
            continue
        seen = True
        h.update(f"{folder.resolve()}\x00".encode())
        for f in sorted(folder.iterdir()):
            if f.is_file() and (f.suffix in WEIGHT_SUFFIXES or f.name in ("config.json", "adapter_config.json")):
                st = f.stat()
                h.update(f"{f.name}\x00{st.st_size}\x00{st.st_mtime_ns}\x01".encode())
    return h.hexdigest()[:16] if seen else None


# --------------------------------------------------------------------------------------------------


def run_eval(config: EvalConfig, backend=None, console=None) -> dict:
    """Evaluate `config.model` on `config.benchmark`; returns the summary dict (also written and
    printed). `backend`: an object with the backend interface (tests pass a scripted one); default
    builds `config.backend`, and only when something is left to generate."""
    from logicrl.eval.agent_runner import is_agent_benchmark

    if is_agent_benchmark(config.benchmark):
        from logicrl.eval.agent_runner import run_agent_eval

        return run_agent_eval(config, backend=backend, console=console)
    config = replace(config, temperature=0.6 if config.temperature is None else config.temperature,
                     max_tokens=4096 if config.max_tokens is None else config.max_tokens)
    if config.samples < 1:
        raise UserError("--samples must be at least 1")
    if config.max_tokens < 1:
        raise UserError("--max-tokens must be at least 1")
    if not 0 < config.top_p <= 1:
        raise UserError("--top-p must be in (0, 1]")
    if config.temperature < 0:
        raise UserError("--temperature must be >= 0")
    if config.limit is not None and config.limit < 1:
        raise UserError("--limit must be at least 1")
    batch_size = config.batch_size if config.batch_size is not None else DEFAULT_BATCH_SIZES.get(config.backend, 8)
    if batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    try:
        resolve_style(config.prompt_style, "math")
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if config.kk_parser not in KK_PARSERS:
        raise UserError(f"--kk-parser must be one of {', '.join(KK_PARSERS)}, not {config.kk_parser!r}")

    routed = resolve_routing(config)
    recipe = trained_recipe(config.model)
    if recipe is None and isinstance(config.adapters, str) and "=" not in config.adapters:
        recipe = trained_recipe(config.adapters)  # a routed run's final/ carries its recipe too
    kk_names = config.kk_names or (recipe["data"].get("names") if recipe else None)
    benchmark = load_benchmark(config.benchmark, data_dir=config.data_dir, seed=config.kk_seed,
                               kk_count=config.kk_count, kk_names=kk_names)
    problems = benchmark.problems[: config.limit] if config.limit else benchmark.problems
    style = resolve_style(config.prompt_style, benchmark.kind)
    if config.prompt_style == "auto" and recipe is not None:
        try:  # the style the model was trained with
            style = style_for_training(recipe["data"]["prompt_style"], benchmark.kind)
        except ValueError:
            pass
    if style == "compact" and benchmark.kind != "kk":
        raise UserError(f"--prompt-style compact is for Knights-and-Knaves benchmarks only ({config.benchmark} is "
                        f"{benchmark.kind}): use chat, base, think or think-base")
    out = Path(config.out).expanduser() if config.out else default_out_dir(config)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {str(out)!r} is a file, expected a folder")
    settings = {k: getattr(config, k) for k in _RUN_KEYS}
    settings["prompt_style"] = style
    settings["benchmark_fingerprint"] = _fingerprint(benchmark)
    if benchmark.kind == "kk":  # the logged verdicts depend on the parser: a resumed run must keep it
        settings["kk_parser"] = config.kk_parser
    if routed is not None:
        settings["routing"] = routed.router.to_dict()
        settings["adapters"] = dict(routed.adapters)
    settings["weights_fingerprint"] = weights_fingerprint(
        [config.model, config.adapter, *(routed.adapters.values() if routed is not None else ())])
    _check_run_file(out, settings)
    routes = {p.id: routed.router.route(routing_row(p)) for p in problems} if routed is not None else None

    samples_path = out / SAMPLES_FILE
    done = read_samples(samples_path)
    prompts = {p.id: build_prompt(p, style, config.instruction) for p in problems}
    # Problems grouped by the sample indices they still miss (one group on a fresh run).
    groups: dict[tuple[int, ...], list[Problem]] = defaultdict(list)
    for p in problems:
        missing = tuple(i for i in range(config.samples) if (p.id, i) not in done)
        if missing:
            groups[missing].append(p)
    total = len(problems) * config.samples
    left = sum(len(m) * len(ps) for m, ps in groups.items())

    if left and backend is None:
        from logicrl.eval.backends import make_backend

        backend = make_backend(config.backend, model=config.model, adapter=config.adapter,
                               adapters=dict(routed.adapters) if routed is not None else None,
                               base_url=config.base_url, device=config.device, dtype=config.dtype,
                               batch_size=batch_size, **config.backend_options)
    # Only now, with the backend up, does the folder get written (bad settings leave nothing behind).
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / RUN_FILE, json.dumps(settings, indent=2) + "\n")
    count_tokens = getattr(backend, "count_tokens", None)
    tokenizer = getattr(backend, "tokenizer", None)
    if count_tokens is None and not callable(tokenizer):  # an HTTP server: the model's tokenizer when local
        tokenizer = _local_tokenizer(config.model)
    if count_tokens is None and callable(tokenizer):  # e.g. the vLLM backend keeps the model's tokenizer
        def count_tokens(text: str) -> int:
            return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=total - left, desc=f"eval {benchmark.name}", unit="sample",
               disable=not config.progress, mininterval=1.0)
    try:
        with open(samples_path, "a", encoding="utf-8") as log:
            for missing, group in groups.items():
                for start in range(0, len(group), batch_size):
                    batch = group[start:start + batch_size]
                    seed = config.seed + zlib.crc32(f"{batch[0].id}/{missing[0]}".encode()) % 1_000_000_007
                    tokens_before = getattr(backend, "generated_tokens", None)
                    began = time.perf_counter()
                    route_kwargs = {"routes": [routes[p.id] for p in batch]} if routes is not None else {}
                    completions = backend.generate([prompts[p.id].content for p in batch], n=len(missing),
                                                   temperature=config.temperature, top_p=config.top_p,
                                                   max_tokens=config.max_tokens, seed=seed, **route_kwargs)
                    elapsed = time.perf_counter() - began
                    if len(completions) != len(batch) or any(len(c) != len(missing) for c in completions):
                        raise RuntimeError(f"backend {config.backend!r} returned a wrong number of completions")
                    n_batch = len(batch) * len(missing)
                    token_counts = getattr(backend, "last_token_counts", None)
                    if not (isinstance(token_counts, list) and len(token_counts) == len(batch)
                            and all(len(c) == len(missing) for c in token_counts)):
                        token_counts = None
                    length_unit = "tokens" if token_counts is not None or count_tokens else "chars"
                    lines = []
                    lengths = []
                    for j, (p, texts) in enumerate(zip(batch, completions)):
                        for s, (index, text) in enumerate(zip(missing, texts)):
                            text = text if isinstance(text, str) else str(text)
                            # Lone surrogates (possible in JSON from a server) cannot be written as UTF-8.
                            text = text.encode("utf-8", "replace").decode("utf-8")
                            verdict = grade(p, prompts[p.id], text, style, config.kk_parser)
                            if token_counts is not None:
                                length = int(token_counts[j][s])
                            else:
                                length = count_tokens(text) if count_tokens else len(text)
                            lengths.append(length)
                            lines.append({"problem_id": p.id, "sample": index, "n_people": p.n_people,
                                          "prompt": prompts[p.id].content, "completion": text,
                                          "extracted": verdict["extracted"], "answer": p.answer,
                                          "correct": verdict["correct"], "format_ok": verdict["format_ok"],
                                          "length": length, "length_unit": length_unit,
                                          "gen_seconds": elapsed / n_batch,
                                          **({"route": routes[p.id]} if routes is not None else {})})
                    tokens_after = getattr(backend, "generated_tokens", None)
                    if tokens_before is not None and tokens_after is not None:
                        batch_tokens = tokens_after - tokens_before
                    else:
                        batch_tokens = sum(lengths) if length_unit == "tokens" else None
                    for line in lines:
                        line["gen_tokens"] = None if batch_tokens is None else batch_tokens / n_batch
                        done[(line["problem_id"], line["sample"])] = line
                    log.write("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
                    log.flush()
                    os.fsync(log.fileno())
                    bar.update(n_batch)
    finally:
        bar.close()

    records = [done[(p.id, i)] for p in problems for i in range(config.samples)]
    timed = [r for r in records if r.get("gen_tokens") is not None and r.get("gen_seconds") is not None]
    summary = compute_metrics(records, config.samples,
                              elapsed_s=sum(r["gen_seconds"] for r in timed) if timed else None,
                              generated_tokens=round(sum(r["gen_tokens"] for r in timed)) if timed else None,
                              same_answer=_math_module().is_equivalent if benchmark.kind == "math" else None)
    units = {r.get("length_unit", "chars") for r in records}
    summary["response_length"]["unit"] = units.pop() if len(units) == 1 else "mixed"
    if routes is not None:  # the same metrics for each route's problems
        by_route: dict[str, list[dict]] = defaultdict(list)
        for r in records:
            by_route[routes[r["problem_id"]]].append(r)
        summary["routes"] = {route: compute_metrics(rs, config.samples, same_answer=_math_module().is_equivalent
                                                    if benchmark.kind == "math" else None)
                             for route, rs in sorted(by_route.items())}
    summary = {
        "benchmark": benchmark.name,
        "benchmark_kind": benchmark.kind,
        "source": benchmark.source,
        "repaired_rows": benchmark.repaired,
        "model": config.model,
        "adapter": config.adapter,
        "adapters": dict(routed.adapters) if routed is not None else None,
        "routing": routed.router.to_dict() if routed is not None else None,
        "backend": config.backend,
        "prompt_style": style,
        "kk_names": kk_names,
        "temperature": config.temperature,
        "top_p": config.top_p,
        "max_tokens": config.max_tokens,
        "grader": _grader_name(benchmark.kind, config.kk_parser),
        **({"kk_parser": config.kk_parser} if benchmark.kind == "kk" else {}),
        "generated_now": left,
        "out": str(out),
        **summary,
    }
    atomic_write_text(out / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    print_summary(summary, console=console)
    return summary


def resolve_routing(config: EvalConfig):
    """The routed adapters of an eval (`logicrl.routing.RoutedAdapters`) or None. `--route` forces one route;
    else the rule comes from `--routing` or the routing.json of an `--adapters` folder. Raises UserError for
    inconsistent options, with the option's name."""
    from logicrl.routing import BASE, ROUTING_FILE, RoutedAdapters, Router, parse_adapters_arg, read_routing

    if config.adapters is None:
        if config.routing or config.route:
            raise UserError(f"{'--routing' if config.routing else '--route'} needs --adapters")
        return None
    if config.adapter:
        raise UserError("--adapter and --adapters are exclusive (one adapter, or routed adapters)")
    if config.backend not in ("hf", "vllm"):
        raise UserError(f"--adapters: the {config.backend} backend sends one model name per request; serve the "
                        "adapters with `vllm serve ... --lora-modules` (logicrl export prints it) and pass "
                        "--model <adapter name>")
    folder = None
    if isinstance(config.adapters, dict):
        adapters = dict(config.adapters)
    elif "=" not in config.adapters and (Path(config.adapters).expanduser() / ROUTING_FILE).is_file():
        folder = Path(config.adapters).expanduser()
        adapters = read_routing(folder).adapters
    elif "=" not in config.adapters and "," not in config.adapters and not Path(config.adapters).expanduser().exists():
        raise UserError(f"--adapters: no such folder {config.adapters!r} (give a routed run's final/ folder, or "
                        "NAME=PATH[,NAME=PATH...])")
    else:
        adapters = parse_adapters_arg(config.adapters)
    if config.route:
        if config.route != BASE and config.route not in adapters:
            raise UserError(f"--route {config.route!r} names no adapter of --adapters ({', '.join(adapters)}) "
                            "and is not __base__")
        return RoutedAdapters(Router(by="task", map={}, default=config.route), adapters)
    source = config.routing or folder
    if source is None:
        raise UserError("--adapters needs --routing FILE (or a folder with routing.json) or --route NAME")
    return read_routing(source, adapters=adapters)


def routing_row(problem: Problem) -> dict:
    """What the router reads for an eval problem: its record's columns, `kind`, and `task` (the record's task
    column, else the kind: kk or math)."""
    record = dict(problem.record or {})
    record.setdefault("task", problem.kind)
    record["kind"] = problem.kind
    return record


def trained_recipe(model: str) -> dict | None:
    """The recipe of the LogicRL run that wrote `model` (a local model directory), or None."""
    if model == "embedded" or not Path(model).expanduser().is_dir():
        return None
    from logicrl.training.rundir import read_recipe

    return read_recipe(Path(model).expanduser())


def _local_tokenizer(model: str):
    """The tokenizer of a local model directory (or the embedded model), for lengths in tokens; else None."""
    if model != "embedded" and not Path(model).expanduser().is_dir():
        return None
    from logicrl.models import load_tokenizer

    try:
        return load_tokenizer(model)
    except (OSError, ValueError, UserError):  # best effort: lengths are then counted without it
        return None


def _grader_name(kind: str, kk_parser: str) -> str:
    if kind == "kk":
        return "rewards.kk.parse_answer (strict)" if kk_parser == "strict" else "Logic-RL parser (logic_rl)"
    return "rewards.math.is_equivalent"


def _fmt(estimate: dict) -> str:
    return f"{100 * estimate['mean']:.1f} ± {100 * estimate['stderr']:.1f}"


def print_summary(summary: dict, console=None) -> None:
    """The summary as a rich table (percentages ± standard error)."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"{summary['benchmark']} · {summary['model']} · {summary['problems']} problems × "
                        f"{summary['samples_per_problem']} samples")
    table.add_column("metric")
    table.add_column("value (%)", justify="right")
    table.add_row("pass@1 (mean over samples)", _fmt(summary["pass@1"]))
    for k, est in summary["pass@k"].items():
        if k != "1":
            table.add_row(f"pass@{k} (unbiased)", _fmt(est))
    for k, est in summary["maj@k"].items():
        table.add_row(f"maj@{k}", _fmt(est))
    for n, est in summary.get("accuracy_by_people", {}).items():
        table.add_row(f"  K&K {n} people", _fmt(est))
    table.add_row("format failures", f"{100 * summary['format_failure_rate']:.1f}")
    if summary.get("grader"):
        table.add_row("graded by", summary["grader"])
    length = summary["response_length"]
    table.add_row(f"response length ({length['unit']}) mean / max", f"{length['mean']:.0f} / {length['max']}")
    gen = summary.get("generation")
    if gen and gen.get("tokens_per_second"):
        table.add_row("tokens per second", f"{gen['tokens_per_second']:.1f}")
    if summary.get("repaired_rows"):
        table.add_row("rows with repaired LaTeX escapes", str(summary["repaired_rows"]))
    table.caption = f"prompt style {summary.get('prompt_style')}" + (
        f", names {', '.join(summary['kk_names'])}" if summary.get("kk_names") else "")
    console.print(table)
    routes = summary.get("routes")
    if routes:
        per_route = Table(title="by route (adapter)")
        for column in ("route", "problems", "pass@1 (%)", "format failures (%)", "mean length"):
            per_route.add_column(column, justify="left" if column == "route" else "right")
        for route, est in routes.items():
            per_route.add_row(route, str(est["problems"]), _fmt(est["pass@1"]),
                              f"{100 * est['format_failure_rate']:.1f}", f"{est['response_length']['mean']:.0f}")
        console.print(per_route)


def config_dict(config: EvalConfig) -> dict:
    return asdict(config)
