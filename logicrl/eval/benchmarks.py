"""Benchmarks: named math sets (AIME 2024/2025, AMC 2023), Knights-and-Knaves and any JSONL file.

A named math benchmark resolves to `<data dir>/<name>.jsonl` (`--data-dir` or `$LOGICRL_DATA_DIR`);
without a local file it is loaded from its Hugging Face datasets id when the machine is online.
Every row becomes a `Problem` with a string id, the problem text and the gold answer.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from logicrl.errors import UserError, first_line

DATA_DIR_ENV = "LOGICRL_DATA_DIR"

KK_SIZES = tuple(range(2, 9))
"""People per puzzle in the `kk` benchmark (the Logic-RL test sets use 2..8)."""
KK_SEED = 20_250_101
"""Base seed of the generated K&K test sets, far from the small seeds training sets use."""
KK_COUNT = 100
"""Puzzles per size in the `kk` benchmark (the public K&K test sets have 100 per size)."""


@dataclass
class Problem:
    """One benchmark item."""

    id: str
    """Stable id (from the file's `id` column, else the row number); keys the resumable sample log."""
    problem: str
    """Problem text (the quiz for K&K)."""
    answer: str
    """Gold answer: the final answer for math, `solution_text_format` for K&K."""
    kind: str = "math"
    """"math" (graded by `rewards.math.is_equivalent`) or "kk" (graded by the K&K answer parser)."""
    n_people: int | None = None
    """K&K only: number of inhabitants (for accuracy by size)."""
    record: dict = field(default_factory=dict)
    """K&K only: the public record (names, roles...) that the prompt and the grader read."""


@dataclass
class Benchmark:
    """A loaded benchmark."""

    name: str
    """Name as given on the command line (a registered name or a file path)."""
    kind: str
    """"math" or "kk"."""
    problems: list[Problem]
    """The items, in file / generation order."""
    source: str
    """Where the items came from (a file, a hub id, or the generator settings)."""
    repaired: int = 0
    """Rows whose LaTeX had control characters from mis-read escapes, repaired on load."""


_BENCHMARKS: dict[str, Callable[..., Benchmark]] = {}


def register_benchmark(name: str):
    """Decorator: register a loader `fn(name, data_dir=None, seed=..., kk_count=...) -> Benchmark`."""

    def wrap(fn):
        _BENCHMARKS[name] = fn
        return fn

    return wrap


def benchmark_names() -> list[str]:
    """Registered benchmark names (plus `kk:N` forms, which are parsed, not registered)."""
    return sorted(_BENCHMARKS)


# --------------------------------------------------------------------------------------------------
# Repair of LaTeX escapes that a JSON writer read as control characters ("\frac" -> form feed + "rac")

_CONTROL_TO_ESCAPE = {"\x0c": "\\f", "\t": "\\t", "\x08": "\\b", "\r": "\\r", "\x0b": "\\v", "\x07": "\\a"}
# LaTeX commands starting with the letter that the control character swallowed. A control character
# followed by one of these words is certainly a mangled command; inside $...$ any letter run is.
_LATEX_WORDS = {
    "\\f": ("frac", "forall", "flat", "frown"),
    "\\t": ("triangle", "times", "text", "textbf", "textit", "tfrac", "theta", "tau", "tan", "tanh",
            "tilde", "top", "to", "tbinom", "therefore"),
    "\\b": ("binom", "beta", "bar", "bmod", "boxed", "begin", "bigcup", "bigcap", "big", "bot", "bullet",
            "bf"),
    "\\r": ("right", "rangle", "rho", "rm", "rfloor", "rceil", "rVert", "rvert"),
    "\\v": ("vec", "varphi", "vartheta", "varepsilon", "vee", "vert", "vdots"),
    "\\a": ("alpha", "angle", "approx", "arctan", "arcsin", "arccos", "ast"),
}
_CONTROL_RUN = re.compile("([\x0c\t\x08\r\x0b\x07])([A-Za-z]+)")


def _in_math(text: str, pos: int) -> bool:
    """Whether `pos` lies inside $...$ (an odd number of unescaped dollars before it)."""
    return len(re.findall(r"(?<!\\)\$", text[:pos])) % 2 == 1


def repair_latex_escapes(text: str) -> tuple[str, int]:
    """Undo escapes mis-read by a JSON writer: a form feed + "rac" back to "\\frac", a tab + "riangle"
    back to "\\triangle" and so on. A control character is repaired only when the letters after it
    make a known LaTeX command or it sits inside $...$, so real tabs and line breaks stay.
    Returns (text, number of repairs)."""
    if not isinstance(text, str):
        return text, 0
    count = 0

    def fix(match: re.Match) -> str:
        nonlocal count
        escape = _CONTROL_TO_ESCAPE[match.group(1)]
        word = escape[1] + match.group(2)
        known = any(word.startswith(w) for w in _LATEX_WORDS[escape])
        if known or _in_math(match.string, match.start()):
            count += 1
            return "\\" + word
        return match.group(0)

    return _CONTROL_RUN.sub(fix, text), count


# --------------------------------------------------------------------------------------------------
# Reading rows


def _answer_text(value) -> str:
    """Gold answers as text; integral floats (AMC files store 27.0) become "27"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    raise ValueError(f"answer must be a string or a number, got {type(value).__name__}")


def _pick(row: dict, *keys):
    for key in keys:
        for k in (key, key.capitalize(), key.upper()):
            if k in row and row[k] is not None:
                return row[k]
    return None


def rows_to_benchmark(name: str, rows, source: str) -> Benchmark:
    """Turn dict rows (`problem`/`question` and `answer`, any casing) into a math Benchmark,
    repairing mangled LaTeX escapes in the problem and answer text."""
    problems, repaired, seen = [], 0, set()
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise UserError(f"{source}: row {i + 1} is not a JSON object")
        text = _pick(row, "problem", "question")
        gold = _pick(row, "answer")
        if not isinstance(text, str) or gold is None:
            raise UserError(f"{source}: row {i + 1} needs a 'problem' (text) and an 'answer' field")
        try:
            gold = _answer_text(gold)
        except ValueError as exc:
            raise UserError(f"{source}: row {i + 1}: {exc}") from None
        text, fixed_problem = repair_latex_escapes(text)
        gold, fixed_answer = repair_latex_escapes(gold)
        repaired += bool(fixed_problem or fixed_answer)
        pid = _pick(row, "id")
        pid = str(pid) if pid is not None else str(i)
        if pid in seen:  # ids key the resumable log, so they must be unique
            pid = f"{pid}#{i}"
        seen.add(pid)
        # The row's other columns (a `task` column, say) stay in `record` for routed adapters' routing rule.
        extra = {k: v for k, v in row.items() if isinstance(v, (str, int, float, bool))}
        problems.append(Problem(id=pid, problem=text, answer=gold, record=extra or None))
    if not problems:
        raise UserError(f"{source}: no rows")
    return Benchmark(name=name, kind="math", problems=problems, source=source, repaired=repaired)


def _read_jsonl(path: Path) -> list[dict]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}: line {n} is not valid JSON ({exc.msg})") from None
    return rows


def load_jsonl_benchmark(path: str | os.PathLike, name: str | None = None) -> Benchmark:
    """A JSONL file: math rows (`problem`, `answer`) or K&K records (`quiz`, `solution_text_format`)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"benchmark file {str(path)!r} does not exist")
    rows = _read_jsonl(path)
    if rows and isinstance(rows[0], dict) and "quiz" in rows[0] and "solution_text_format" in rows[0]:
        return _kk_from_records(name or str(path), rows, source=str(path))
    return rows_to_benchmark(name or str(path), rows, source=str(path))


# --------------------------------------------------------------------------------------------------
# Named math benchmarks

# name -> (Hugging Face datasets id, config, split)
HUB_IDS = {
    "aime24": ("HuggingFaceH4/aime_2024", None, "train"),
    "aime25": ("math-ai/aime25", None, "test"),
    "amc23": ("math-ai/amc23", None, "test"),
}


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes")
               for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def load_from_hub(name: str) -> Benchmark:
    """Load a named math benchmark from its Hugging Face datasets id (needs network)."""
    hub_id, config, split = HUB_IDS[name]
    hint = f"put {name}.jsonl in a folder given by --data-dir or ${DATA_DIR_ENV}"
    if _offline():
        raise UserError(f"benchmark {name!r}: no local file and offline (HF_HUB_OFFLINE set), "
                        f"cannot fetch {hub_id}; {hint}")
    import datasets

    try:
        dataset = datasets.load_dataset(hub_id, config, split=split)
    except Exception as exc:  # noqa: BLE001  (network, auth, missing dataset: all the user's to fix)
        first = first_line(exc)
        raise UserError(f"benchmark {name!r}: cannot load {hub_id} from the hub ({first}); {hint}") from None
    return rows_to_benchmark(name, list(dataset), source=f"hf:{hub_id}:{split}")


def _data_dir(data_dir) -> Path | None:
    chosen = data_dir or os.environ.get(DATA_DIR_ENV)
    if not chosen:
        return None
    path = Path(chosen).expanduser()
    if not path.is_dir():
        raise UserError(f"data dir {str(path)!r} is not a directory")
    return path


def _math_loader(name: str):
    def load(bench_name: str, data_dir=None, **_options) -> Benchmark:
        folder = _data_dir(data_dir)
        if folder is not None and (folder / f"{name}.jsonl").is_file():
            return load_jsonl_benchmark(folder / f"{name}.jsonl", name=name)
        return load_from_hub(name)

    return load


for _name in HUB_IDS:
    register_benchmark(_name)(_math_loader(_name))


# --------------------------------------------------------------------------------------------------
# Knights and Knaves


def _kk_problem(record: dict, pid: str) -> Problem:
    n_people = len(record.get("names") or []) or None
    return Problem(id=pid, problem=record["quiz"], answer=record["solution_text_format"], kind="kk",
                   n_people=n_people, record=record)


def _kk_from_records(name: str, rows: list[dict], source: str) -> Benchmark:
    problems = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("quiz"), str) \
                or not isinstance(row.get("solution_text_format"), str):
            raise UserError(f"{source}: row {i + 1} needs 'quiz' and 'solution_text_format' text")
        problems.append(_kk_problem(row, str(row.get("id", i))))
    return Benchmark(name=name, kind="kk", problems=problems, source=source)


def parse_kk_sizes(spec: str) -> tuple[int, ...]:
    """"kk" -> 2..8; "kk:5" -> (5,); "kk:3-6" -> 3..6 (`puzzles.parse_people`). Raises UserError."""
    if spec == "kk":
        return KK_SIZES
    from puzzles import parse_people

    try:
        return tuple(parse_people(spec.split(":", 1)[1]))
    except ValueError as exc:
        raise UserError(f"benchmark {spec!r}: expected kk, kk:N or kk:LOW-HIGH ({exc})") from None


def load_kk_benchmark(spec: str = "kk", seed: int = KK_SEED, kk_count: int = KK_COUNT,
                      names: list[str] | None = None) -> Benchmark:
    """Generated K&K puzzles, `kk_count` per size; the same seed gives the same puzzles. With `names`,
    person i of every puzzle is `names[i]` (a model trained on fixed names is tested on them). Raises
    UserError for a bad spec or a size with more people than names."""
    from puzzles import generate_kk, with_names
    from puzzles.generate import check_names

    if kk_count < 1:
        raise UserError("--kk-count must be at least 1")
    sizes = parse_kk_sizes(spec)
    if names and max(sizes) > len(names):
        raise UserError(f"benchmark {spec!r}: {max(sizes)}-people puzzles need {max(sizes)} names, but the names "
                        f"are fixed to {', '.join(names)} (--kk-names, else the model's training recipe): ask for "
                        f"kk:2-{len(names)} or give more names with --kk-names")
    if names:
        try:
            check_names(names, max(sizes))
        except ValueError as exc:
            raise UserError(f"--kk-names: {exc}") from None
    problems = []
    for n in sizes:
        try:
            made = generate_kk(n, kk_count, seed=seed + n)
        except RuntimeError as exc:  # more distinct puzzles asked for than exist (2 people: 399)
            raise UserError(f"--kk-count {kk_count}: {exc}") from None
        for puzzle in made:
            if names:
                puzzle = with_names(puzzle, names)
            record = puzzle.to_record()
            problems.append(_kk_problem(record, f"kk{n}-{puzzle.index}"))
    source = f"generated: people {sizes[0]}..{sizes[-1]}, {kk_count} per size, seed {seed}"
    if names:
        source += f", names {', '.join(names[:max(sizes)])}"
    return Benchmark(name=spec, kind="kk", problems=problems, source=source)


# --------------------------------------------------------------------------------------------------


def load_benchmark(spec: str, data_dir=None, seed: int = KK_SEED, kk_count: int = KK_COUNT,
                   kk_names: list[str] | None = None) -> Benchmark:
    """Resolve a benchmark name (`aime24`, `aime25`, `amc23`, `kk`, `kk:5`) or a JSONL path."""
    spec = str(spec)
    if spec == "kk" or spec.startswith("kk:"):
        return load_kk_benchmark(spec, seed=seed, kk_count=kk_count, names=kk_names)
    if spec in _BENCHMARKS:
        return _BENCHMARKS[spec](spec, data_dir=data_dir, seed=seed, kk_count=kk_count)
    path = Path(spec).expanduser()
    if path.suffix == ".jsonl" or path.exists():
        return load_jsonl_benchmark(path, name=spec)
    raise UserError(f"unknown benchmark {spec!r}: use one of {', '.join(benchmark_names())}, kk, kk:N, "
                    "magebench-sokoban[:global|:online], or a .jsonl file with 'problem' and 'answer'")
