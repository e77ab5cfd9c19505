"""Training data: puzzles (generated or loaded), their prompts, the TRL dataset, held-out puzzles.

The dataset carries, beside `prompt`, every column the rewards read: `solution_text_format` and `roles`
(K&K: the puzzle's role words, so a set made with `--roles saint/sinner` is graded with those words) and
`n_people`; `answer` for math.
"""

from __future__ import annotations

import json

from logicrl.config import TrainConfig
from logicrl.errors import UserError


def generate_puzzles(field: str, n_people: int, count: int, **options) -> list:
    """`puzzles.generate_kk`, with "more distinct puzzles asked for than exist" (2 people have 399) as a
    one-line UserError naming the recipe `field` that asked for them."""
    from puzzles import generate_kk

    try:
        return generate_kk(n_people, count, **options)
    except RuntimeError as exc:
        raise UserError(f"config field {field}: {exc}") from None


def load_puzzles(config: TrainConfig) -> list:
    """Training puzzles: from `data.path`, or generated per number of people from `data.seed` (told with
    `data.names` when the recipe fixes them)."""
    from puzzles import load_kk, with_names

    d = config.data
    if d.path:
        try:
            return list(load_kk(d.path))
        except (OSError, ValueError, KeyError, TypeError, SyntaxError) as exc:
            raise UserError(f"config field data.path: cannot read {d.path}: {exc}") from None
    out = []
    for n in d.people:
        made = generate_puzzles("data.count", n, d.count, seed=d.seed * 1000 + n, depth=d.depth, width=d.width)
        out.extend(with_names(p, d.names) for p in made) if d.names else out.extend(made)
    return out


def heldout_puzzles(config: TrainConfig, training_quizzes: set[str]) -> list:
    """Held-out puzzles by number of people, none of which is in the training set."""
    from puzzles import with_names

    h, d = config.heldout, config.data
    out = []
    for n in h.people:
        # 2 x count candidates, so that count remain once the training puzzles are left out
        made = generate_puzzles("heldout.count", n, h.count * 2, seed=h.seed * 1000 + n, depth=d.depth, width=d.width)
        if d.names:
            made = [with_names(p, d.names) for p in made]
        out.extend([p for p in made if p.quiz not in training_quizzes][: h.count])
    return out


def kk_rows(puzzles, style: str) -> list[dict]:
    """One dataset row per puzzle: the prompt in `style` and the columns the K&K reward reads."""
    from puzzles import make_prompt

    return [{"prompt": make_prompt(p, style=style), "solution_text_format": p.solution_text_format,
             "roles": list(p.roles), "n_people": int(p.n_people)} for p in puzzles]


def math_rows(path: str, style: str) -> list[dict]:
    """One row per problem of a JSONL file with `problem` and `answer`, prompted as `logicrl eval` does
    (`logicrl.eval.prompts.build_prompt`, the same instruction text)."""
    from logicrl.eval.benchmarks import Problem
    from logicrl.eval.prompts import build_prompt, style_for_training

    rows = []
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                problem, answer = str(rec["problem"]), str(rec["answer"])
            except (json.JSONDecodeError, KeyError, TypeError):
                raise UserError(f"config field data.path: line {line_no} of {path} needs JSON with "
                                "'problem' and 'answer'") from None
            prompt = build_prompt(Problem(id=str(line_no), problem=problem, answer=answer, kind="math"),
                                  style=style_for_training(style, "math"))
            rows.append({"prompt": prompt.content, "answer": answer})
    if not rows:
        raise UserError(f"config field data.path: {path} holds no problems")
    return rows


def mix_rows(config: TrainConfig) -> tuple[list[dict], list]:
    """The rows of every `data.mix` task (each with its `task` column; columns another task lacks are None) and
    the K&K puzzles among them."""
    import dataclasses

    d = config.data
    rows, puzzles = [], []
    for i, m in enumerate(d.mix):
        style = m.prompt_style or d.prompt_style
        if m.kind == "math":
            made = math_rows(m.path, style)[: m.count]
        else:
            sub = dataclasses.replace(d, mix=[], kind="kk", path=m.path, people=m.people or d.people,
                                      count=m.count or d.count, seed=d.seed if m.seed is None else m.seed)
            entry_puzzles = load_puzzles(dataclasses.replace(config, data=sub))
            if not entry_puzzles:
                raise UserError(f"config field data.mix[{i}]: no puzzles")
            puzzles.extend(entry_puzzles)
            made = kk_rows(entry_puzzles, style)
        rows.extend({**row, "task": m.task} for row in made)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    return [{k: row.get(k) for k in columns} for row in rows], puzzles


def add_routes(config: TrainConfig, rows: list[dict]) -> list[dict]:
    """With `lora.adapters`: each row's `route` (the adapter it trains, `logicrl.routing.Router`). Raises
    UserError when a row routes nowhere (routing.default: error) or to an adapter that gets no gradient."""
    from logicrl.config import router_of, trained_adapters
    from logicrl.routing import BASE

    router = router_of(config)
    if router is None:
        return rows
    trained = set(trained_adapters(config))
    counts: dict[str, int] = {}
    for row in rows:
        row["route"] = router.route(row)
        counts[row["route"]] = counts.get(row["route"], 0) + 1
    idle = {r: n for r, n in counts.items() if r == BASE or r not in trained}
    if idle:
        route, n = next(iter(idle.items()))
        raise UserError(f"config field lora.routing: {n} training rows route to "
                        f"{'the bare base' if route == BASE else 'frozen adapter ' + repr(route)}, which gets no "
                        "gradient; route them to a trained adapter (lora.train) or leave them out of the data")
    return rows


def build_dataset(config: TrainConfig, tokenizer=None):
    """(datasets.Dataset with `prompt` and the reward columns, the puzzles or None for math). With `data.mix`,
    rows of every task with their `task` column; with `lora.adapters`, each row's `route` too.
    Raises UserError when the data cannot be read or (given a `tokenizer`: `check_chat_template`) the prompt
    style does not fit the tokenizer. Needs no model: a run builds it before loading one."""
    import datasets

    d = config.data
    if tokenizer is not None:
        check_chat_template(config, tokenizer)
    if d.mix:
        rows, puzzles = mix_rows(config)
        return datasets.Dataset.from_list(add_routes(config, rows)), puzzles or None
    if config.lora.adapters:
        dataset, puzzles = _single_task_dataset(config)
        return datasets.Dataset.from_list(add_routes(config, dataset.to_list())), puzzles
    return _single_task_dataset(config)


def _single_task_dataset(config: TrainConfig):
    import datasets

    d = config.data
    if d.kind == "math":
        return datasets.Dataset.from_list(math_rows(d.path, d.prompt_style)), None
    if d.kind == "sokoban":  # the levels play the puzzles' part (logicrl.training.sokoban)
        from logicrl.training.sokoban import build_sokoban_dataset

        return build_sokoban_dataset(config)
    puzzles = load_puzzles(config)
    if not puzzles:
        raise UserError("config field data: no training puzzles")
    return datasets.Dataset.from_list(kk_rows(puzzles, d.prompt_style)), puzzles


def check_chat_template(config: TrainConfig, tokenizer) -> None:
    """UserError when a task uses the chat prompt style and `tokenizer` has no chat template."""
    d = config.data
    styles = {m.prompt_style or d.prompt_style for m in d.mix} if d.mix else {d.prompt_style}
    if "chat" in styles and getattr(tokenizer, "chat_template", None) is None:
        other = "compact" if d.kind == "sokoban" else "base"
        raise UserError(f"config field data.prompt_style: the tokenizer of {config.model} has no chat template; "
                        f"use prompt_style: {other}")
