"""Reading and writing puzzle sets in the public K&K / Logic-RL record schema (JSONL or parquet).

A record has `quiz`, `names`, `knight_knave`, `solution`, `solution_text`, `solution_text_format`,
`cot_head`, `cot_repeat_steps`, `cot_foot`, `statements` (a Python-literal string, parsed with
``ast.literal_eval`` only), `index`, plus our `trace`. `load_kk` needs only `quiz` and `statements`
(top level, or in Logic-RL's `reward_model.ground_truth`); the rest is filled in when missing.
Writes are atomic: a failed save leaves no file behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path

from puzzles.puzzle import RECORD_KEYS, KKPuzzle
from puzzles.render import (
    knight_knave_dict,
    roles_from_knight_knave,
    solution_text,
    solution_text_format,
    statement_text,
)
from puzzles.solver import check_people, solve_kk
from puzzles.statements import parse_statements
from puzzles.trace import join_trace, trace_parts

FORMATS = {".jsonl": "jsonl", ".parquet": "parquet"}
MAX_LINE_BYTES = 16 << 20
"""Longest JSONL line read (a puzzle record is a few KB): a binary file is not read whole into memory."""
_FORMAT_LINE = re.compile(r"^\s*\((\d+)\)\s*(.+?)\s+is\s+(?:an?\s+)?(\S+?)\s*$")


def file_format(path) -> str:
    """'jsonl' or 'parquet' from the file extension; ValueError otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"unsupported puzzle file extension {suffix or '(none)'!r} for {path}: "
                         "use .jsonl or .parquet")
    return FORMATS[suffix]


def _names_from_format(text: str) -> list[str]:
    names = []
    for line in text.strip().splitlines():
        m = _FORMAT_LINE.match(line)
        if not m:
            raise ValueError(f"cannot read a name from solution_text_format line {line!r:.80}")
        names.append(m.group(2))
    return names


def _as_str(record, key, required=False):
    value = record.get(key)
    if value is None:
        if required:
            raise ValueError(f"missing field {key!r}")
        return None
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} must be a string, got {type(value).__name__}")  # noqa: TRY004 (bad data is a ValueError)
    return value


def from_record(record: dict) -> KKPuzzle:
    """A `KKPuzzle` from one record (public schema); ValueError says what is wrong."""
    if not isinstance(record, dict):
        raise ValueError(f"record must be an object, got {type(record).__name__}")  # noqa: TRY004 (bad data is a ValueError)
    ground_truth = (record.get("reward_model") or {}).get("ground_truth") or {}
    if not isinstance(ground_truth, dict):
        ground_truth = {}
    quiz = _as_str(record, "quiz", required=True)
    raw_statements = record.get("statements", ground_truth.get("statements"))
    if raw_statements is None:
        raise ValueError("missing field 'statements'")
    statements = parse_statements(raw_statements)
    n = len(statements)
    check_people(n)
    roles = roles_from_knight_knave(record.get("knight_knave"))

    fmt = _as_str(record, "solution_text_format") or (ground_truth.get("solution_text_format")
                                                      if isinstance(ground_truth.get("solution_text_format"), str)
                                                      else None)
    names = record.get("names")
    if names is None:
        if fmt is None:
            raise ValueError("missing field 'names' (and no solution_text_format to read them from)")
        names = _names_from_format(fmt)
    if not isinstance(names, (list, tuple)) or not all(isinstance(x, str) and x for x in names):
        raise ValueError("field 'names' must be a list of non-empty strings")
    names = list(names)
    if len(names) != n:
        raise ValueError(f"{len(names)} names but {n} statements")

    solution = record.get("solution")
    if isinstance(solution, str):  # some exports store it as a Python literal too
        import ast

        try:
            solution = ast.literal_eval(solution[:10_000])
        except (ValueError, SyntaxError) as exc:
            raise ValueError(f"field 'solution' is not a literal: {type(exc).__name__}") from None
    if solution is None:
        found = solve_kk(statements, n)
        if len(found) != 1:
            raise ValueError(f"no 'solution' given and the statements have {len(found)} solutions, not 1")
        solution = found[0]
    if not isinstance(solution, (list, tuple)) or not all(isinstance(v, bool) for v in solution):
        raise ValueError("field 'solution' must be a list of booleans")
    if len(solution) != n:
        raise ValueError(f"solution has {len(solution)} entries but there are {n} statements")
    solution = tuple(solution)

    head = _as_str(record, "cot_head")
    steps = record.get("cot_repeat_steps")
    foot = _as_str(record, "cot_foot")
    trace = _as_str(record, "trace")
    if steps is not None and (not isinstance(steps, (list, tuple)) or not all(isinstance(s, str) for s in steps)):
        raise ValueError("field 'cot_repeat_steps' must be a list of strings")
    if head is None or steps is None or foot is None:
        claims = [statement_text(s, names, roles) for s in statements]
        try:
            head, steps, foot = trace_parts(statements, names, roles, claims=claims)
        except ValueError:  # contradictory statements (e.g. a deliberately wrong data set): no trace
            head, steps, foot = "", [], ""
    if trace is None:
        trace = join_trace(head, steps, foot) if head or steps or foot else ""

    index = record.get("index", 0)
    if type(index) is not int:
        raise ValueError("field 'index' must be an integer")
    return KKPuzzle(
        quiz=quiz,
        names=names,
        statements=statements,
        solution=solution,
        solution_text=_as_str(record, "solution_text") or solution_text(names, solution, roles),
        solution_text_format=fmt or solution_text_format(names, solution, roles),
        trace=trace,
        n_people=n,
        roles=roles,
        index=index,
        cot_head=head,
        cot_repeat_steps=tuple(steps),
        cot_foot=foot,
    )


def iter_records(path):
    """Yield (location, record) from a .jsonl or .parquet file; location is "line N" / "row N"."""
    path = Path(path)
    fmt = file_format(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such puzzle file: {path}")
    if fmt == "jsonl":
        with path.open("rb") as fh:  # bytes: a binary or mis-encoded file is named with its line
            for lineno, raw in enumerate(iter(lambda: fh.readline(MAX_LINE_BYTES + 1), b""), 1):
                if len(raw) > MAX_LINE_BYTES:
                    raise ValueError(f"{path}: line {lineno}: longer than {MAX_LINE_BYTES >> 20} MiB "
                                     f"(not a puzzle record; a binary file?)")
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise ValueError(f"{path}: line {lineno}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at "
                                     f"column {exc.start + 1}; a binary file?)") from None
                if not line.strip():
                    continue
                if "\x00" in line:
                    raise ValueError(f"{path}: line {lineno}: holds NUL bytes (a binary file?)")
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}: line {lineno}: invalid JSON ({exc.msg})") from None
                yield f"line {lineno}", record
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(path).to_pylist()
        except (OSError, ValueError, pa.ArrowException) as exc:  # a damaged or foreign file
            raise ValueError(f"{path}: not a readable parquet file ({type(exc).__name__})") from None
        for i, record in enumerate(rows, 1):
            yield f"row {i}", record


def load_kk(path, verify: bool = False) -> list[KKPuzzle]:
    """Read puzzles from a .jsonl or .parquet file in the public K&K / Logic-RL schema.

    verify=True also checks that every record's solution is the statements' unique solution.
    A bad record raises ValueError naming the file and the line (or row).
    """
    out = []
    for where, record in iter_records(path):
        try:
            puzzle = from_record(record)
            if verify:
                found = solve_kk(puzzle.statements, puzzle.n_people)
                if found != [puzzle.solution]:
                    raise ValueError(f"solution {puzzle.solution} is not the unique solution ({len(found)} found)")
        except ValueError as exc:
            raise ValueError(f"{path}: {where}: {exc}") from None
        out.append(puzzle)
    return out


def _records(puzzles) -> list[dict]:
    return [p.to_record() if isinstance(p, KKPuzzle) else dict(p) for p in puzzles]


def _parquet_schema():
    import pyarrow as pa

    kk = pa.struct([(k, pa.string()) for k in knight_knave_dict()])
    types = {"quiz": pa.string(), "names": pa.list_(pa.string()), "knight_knave": kk,
             "solution": pa.list_(pa.bool_()), "solution_text": pa.string(),
             "solution_text_format": pa.string(), "cot_head": pa.string(),
             "cot_repeat_steps": pa.list_(pa.string()), "cot_foot": pa.string(),
             "statements": pa.string(), "index": pa.int64(), "trace": pa.string()}
    return pa.schema([(k, types[k]) for k in RECORD_KEYS])


@contextlib.contextmanager
def _atomic(path: Path):
    for parent in path.absolute().parents:  # name the file in the way ("File exists" does not)
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(f"cannot create {path}: {parent} is a file, not a directory")
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


PARQUET_ROW_GROUP = 10_000


def save_kk(puzzles, path) -> Path:
    """Write puzzles (KKPuzzle objects or records; any iterable, consumed as it is written) to
    .jsonl or .parquet, atomically: the file appears only once everything is written."""
    path = Path(path)
    fmt = file_format(path)
    records = (p.to_record() if isinstance(p, KKPuzzle) else dict(p) for p in puzzles)
    with _atomic(path) as tmp:
        if fmt == "jsonl":
            with tmp.open("w", encoding="utf-8", newline="\n") as fh:
                for rec in records:
                    fh.write(json.dumps(rec) + "\n")
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            schema = _parquet_schema()
            with pq.ParquetWriter(tmp, schema) as writer:
                batch: list[dict] = []
                for rec in records:
                    batch.append({k: rec.get(k) for k in schema.names})
                    if len(batch) == PARQUET_ROW_GROUP:
                        writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                        batch = []
                if batch:
                    writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    return path


def to_dataset(puzzles, prompt_style: str | None = None, tokenizer=None, columns=None):
    """A `datasets.Dataset` of the records (one row per puzzle).

    prompt_style="chat" | "base" adds a `prompt` column from `puzzles.prompts.make_prompt`
    (chat messages, or strings when a `tokenizer` is given); `columns` keeps only those columns.
    """
    import datasets

    from puzzles.prompts import make_prompt

    items = list(puzzles)
    records = _records(items)
    if prompt_style is not None:
        for item, rec in zip(items, records):
            rec["prompt"] = make_prompt(item, style=prompt_style, tokenizer=tokenizer)
    if columns is not None:
        missing = [c for c in columns if records and c not in records[0]]
        if missing:
            raise ValueError(f"unknown columns: {', '.join(missing)}")
        records = [{c: rec[c] for c in columns} for rec in records]
    return datasets.Dataset.from_list(records)
