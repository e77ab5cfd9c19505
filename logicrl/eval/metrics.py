"""Metrics over graded samples: pass@1 (mean over samples), unbiased pass@k, maj@k, each with a standard
error over problems; K&K accuracy by number of people; format failures; response lengths; throughput.

Standard errors are over problems: the sample standard deviation (ddof=1) of the per-problem values
divided by sqrt(number of problems); 0 with a single problem.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k estimator of Chen et al. (2021): 1 - C(n-c, k) / C(n, k), for n samples of which
    c are correct, computed as a stable product."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    # 1 - prod_{i=n-c+1}^{n} (1 - k/i)
    result = 1.0
    for i in range(n - c + 1, n + 1):
        result *= 1.0 - k / i
    return 1.0 - result


def majority_vote(answers: list, same_answer: Callable[[str, str], bool] | None = None) -> int | None:
    """Index of the sample whose answer wins the vote, or None if no sample has an answer.

    Answers are grouped by their text with whitespace removed, and, with `same_answer` (e.g.
    `rewards.math.is_equivalent`), with an earlier group they are equivalent to. The largest group
    wins; ties go to the group seen first; the group's first sample stands for it.
    """
    groups: list[list] = []  # [key, first index, count]
    for i, answer in enumerate(answers):
        key = _answer_key(answer)
        if key is None:
            continue
        for group in groups:
            if group[0] == key or (same_answer is not None and same_answer(str(answer), str(answers[group[1]]))):
                group[2] += 1
                break
        else:
            groups.append([key, i, 1])
    if not groups:
        return None
    best = max(g[2] for g in groups)
    return next(g[1] for g in groups if g[2] == best)


@dataclass
class Estimate:
    """A mean over problems with its standard error."""

    mean: float
    stderr: float
    n: int

    def as_dict(self) -> dict:
        return {"mean": self.mean, "stderr": self.stderr, "n": self.n}


def mean_stderr(values: list[float]) -> Estimate:
    """Mean, and standard error = sample std (ddof=1) / sqrt(n) (0 for n < 2)."""
    n = len(values)
    if n == 0:
        return Estimate(float("nan"), float("nan"), 0)
    mean = sum(values) / n
    if n < 2:
        return Estimate(mean, 0.0, n)
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return Estimate(mean, math.sqrt(var / n), n)


def default_ks(n: int) -> list[int]:
    """1, 2, 4, ... up to n, and n itself."""
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k *= 2
    return ks + [n] if n >= 1 else []


def _answer_key(answer) -> str | None:
    """Votes group answers by their text with whitespace removed (so "1 / 2" and "1/2" agree)."""
    if not answer:
        return None
    return "".join(str(answer).split()) or None


def compute_metrics(samples: list[dict], n_samples: int, ks: list[int] | None = None,
                    elapsed_s: float | None = None, generated_tokens: int | None = None,
                    same_answer: Callable[[str, str], bool] | None = None) -> dict:
    """Summary metrics from graded sample records.

    Each record has `problem_id`, `sample` (index), `correct` (bool), `extracted` (answer text or None),
    `format_ok` (bool), `length` (response length) and optionally `n_people` (K&K).
    `n_samples`: samples per problem (k ranges over 1..n_samples). The unbiased pass@k uses all n
    samples; maj@k votes over each problem's first k samples (by index), see `majority_vote`.
    """
    by_problem: dict[str, list[dict]] = defaultdict(list)
    for record in samples:
        by_problem[record["problem_id"]].append(record)
    for group in by_problem.values():
        group.sort(key=lambda r: r["sample"])
    incomplete = [pid for pid, g in by_problem.items() if len(g) != n_samples]
    if incomplete:
        raise ValueError(f"{len(incomplete)} problems do not have {n_samples} samples (e.g. {incomplete[0]})")
    ks = [k for k in (ks or default_ks(n_samples)) if 1 <= k <= n_samples]

    out: dict = {"problems": len(by_problem), "samples_per_problem": n_samples,
                 "total_samples": len(samples)}
    # pass@1 as the mean over samples (avg@n), per problem c/n, then over problems.
    out["pass@1"] = mean_stderr([sum(r["correct"] for r in g) / n_samples for g in by_problem.values()]).as_dict()
    out["pass@k"] = {str(k): mean_stderr([pass_at_k(n_samples, sum(r["correct"] for r in g), k)
                                          for g in by_problem.values()]).as_dict() for k in ks}
    maj = {}
    for k in ks:
        values = []
        for g in by_problem.values():
            winner = majority_vote([r.get("extracted") for r in g[:k]], same_answer)
            values.append(float(winner is not None and bool(g[winner]["correct"])))
        maj[str(k)] = mean_stderr(values).as_dict()
    out["maj@k"] = maj

    sizes = defaultdict(list)
    for g in by_problem.values():
        if g[0].get("n_people"):
            sizes[int(g[0]["n_people"])].append(sum(r["correct"] for r in g) / n_samples)
    if sizes:
        out["accuracy_by_people"] = {str(n): mean_stderr(v).as_dict() for n, v in sorted(sizes.items())}

    out["format_failure_rate"] = (sum(not r["format_ok"] for r in samples) / len(samples)) if samples else 0.0
    lengths = [int(r.get("length") or 0) for r in samples]
    out["response_length"] = {"mean": sum(lengths) / len(lengths) if lengths else 0.0,
                              "max": max(lengths, default=0)}
    if elapsed_s is not None and generated_tokens is not None:
        out["generation"] = {"seconds": elapsed_s, "tokens": generated_tokens,
                             "tokens_per_second": generated_tokens / elapsed_s if elapsed_s > 0 else None}
    return out
