"""Metric arithmetic, checked exactly: unbiased pass@k against its formula, maj@k, standard errors,
K&K accuracy by size, format failures and lengths, through the runner with a scripted generator."""

from __future__ import annotations

import json
import math
import statistics
from itertools import combinations

import pytest
from test_eval_doubles import ScriptedBackend, write_jsonl

from logicrl.eval.metrics import compute_metrics, default_ks, majority_vote, mean_stderr, pass_at_k
from logicrl.eval.runner import EvalConfig, run_eval


def formula_pass_at_k(n: int, c: int, k: int) -> float:
    """Chen et al. (2021), written directly with binomial coefficients."""
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def enumerated_pass_at_k(n: int, c: int, k: int) -> float:
    """The fraction of k-subsets of the n samples that hold at least one correct one (the definition)."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", [1, 2, 5, 8, 10])
def test_pass_at_k_matches_formula_and_definition(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            got = pass_at_k(n, c, k)
            assert got == pytest.approx(formula_pass_at_k(n, c, k), abs=1e-12)
            assert got == pytest.approx(enumerated_pass_at_k(n, c, k), abs=1e-12)


def test_pass_at_k_large_n_is_stable():
    # comb() grows huge here; the product form must still agree with exact rational arithmetic.
    assert pass_at_k(200, 3, 10) == pytest.approx(formula_pass_at_k(200, 3, 10), rel=1e-12)
    assert pass_at_k(200, 0, 50) == 0.0
    assert pass_at_k(200, 151, 50) == 1.0


def test_pass_at_k_rejects_impossible_counts():
    for n, c, k in [(3, 4, 1), (3, 1, 0), (3, 1, 4), (3, -1, 1)]:
        with pytest.raises(ValueError):
            pass_at_k(n, c, k)


def test_mean_stderr_and_ks():
    est = mean_stderr([0.0, 0.5, 1.0, 1.0])
    assert est.mean == pytest.approx(0.625)
    assert est.stderr == pytest.approx(statistics.stdev([0.0, 0.5, 1.0, 1.0]) / 2)
    assert mean_stderr([0.7]).stderr == 0.0
    assert default_ks(1) == [1]
    assert default_ks(5) == [1, 2, 4, 5]
    assert default_ks(8) == [1, 2, 4, 8]


def test_majority_vote_ties_and_equivalence():
    assert majority_vote([None, "", None]) is None
    assert majority_vote(["7", "20", "7"]) == 0
    assert majority_vote(["5", "30", "30", "5"]) == 0  # tie: the group seen first
    assert majority_vote(["1 / 2", "3", "1/2"]) == 0  # whitespace does not split a vote
    same_int = lambda a, b: a.strip().lstrip("0") == b.strip().lstrip("0")
    assert majority_vote(["3", "040", "40"], same_int) == 1
    assert majority_vote(["3", "040", "40"]) == 0  # without equivalence: three singletons, first wins


# Four problems, five samples each, answers chosen so every metric is known by hand.
GOLD = {"alpha": "10", "bravo": "20", "charlie": "30", "delta": "40"}
ANSWERS = {
    "alpha": ["1", "1", "2", None, "3"],        # c=0
    "bravo": ["7", "20", "7", "8", "9"],        # c=1; majority 7 (wrong)
    "charlie": ["5", "30", "30", "5", "30"],    # c=3; maj@2, maj@4 tie -> 5 (wrong); maj@5 -> 30
    "delta": ["40", "040", "40", "40", "40"],   # c=5
}


def completion(answer):
    return "I think hard about it." if answer is None else f"Some work here. So \\boxed{{{answer}}}"


def test_runner_metrics_exact_with_scripted_backend(tmp_path):
    data = tmp_path / "toy.jsonl"
    write_jsonl(data, [{"id": name, "problem": f"Problem {name}: compute it.", "answer": gold}
                       for name, gold in GOLD.items()])
    script = {f"Problem {name}:": [completion(a) for a in answers] for name, answers in ANSWERS.items()}
    backend = ScriptedBackend(script)
    config = EvalConfig(model="scripted", benchmark=str(data), samples=5, out=str(tmp_path / "out"),
                        progress=False, temperature=0.7)
    summary = run_eval(config, backend=backend)

    n = 5
    correct = {name: sum(a is not None and int(a) == int(GOLD[name]) for a in answers)
               for name, answers in ANSWERS.items()}
    assert correct == {"alpha": 0, "bravo": 1, "charlie": 3, "delta": 5}
    per_problem_p1 = [c / n for c in correct.values()]
    assert summary["pass@1"]["mean"] == pytest.approx(statistics.mean(per_problem_p1))
    assert summary["pass@1"]["stderr"] == pytest.approx(statistics.stdev(per_problem_p1) / 2)
    for k in (1, 2, 4, 5):
        values = [formula_pass_at_k(n, c, k) for c in correct.values()]
        assert summary["pass@k"][str(k)]["mean"] == pytest.approx(statistics.mean(values))
        assert summary["pass@k"][str(k)]["stderr"] == pytest.approx(statistics.stdev(values) / 2)
    expected_maj = {"1": [0, 0, 0, 1], "2": [0, 0, 0, 1], "4": [0, 0, 0, 1], "5": [0, 0, 1, 1]}
    for k, values in expected_maj.items():
        assert summary["maj@k"][k]["mean"] == pytest.approx(statistics.mean(values)), k
        assert summary["maj@k"][k]["stderr"] == pytest.approx(statistics.stdev(values) / 2), k
    assert summary["format_failure_rate"] == pytest.approx(1 / 20)  # one completion without an answer
    lengths = [len(completion(a).split()) for answers in ANSWERS.values() for a in answers]
    assert summary["response_length"] == {"mean": pytest.approx(sum(lengths) / 20), "max": max(lengths),
                                          "unit": "tokens"}
    assert summary["generation"]["tokens"] == sum(lengths)
    assert summary["generation"]["tokens_per_second"] > 0
    assert "accuracy_by_people" not in summary
    # One generate call for the four problems, all five samples at once, with the given temperature.
    assert len(backend.calls) == 1 and backend.calls[0]["n"] == 5 and backend.calls[0]["temperature"] == 0.7

    on_disk = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert on_disk["pass@k"] == summary["pass@k"]
    lines = [json.loads(x) for x in (tmp_path / "out" / "samples.jsonl").read_text().splitlines()]
    assert len(lines) == 20
    bravo = sorted((r for r in lines if r["problem_id"] == "bravo"), key=lambda r: r["sample"])
    assert [r["extracted"] for r in bravo] == ANSWERS["bravo"]
    assert [r["correct"] for r in bravo] == [False, True, False, False, False]
    assert all(r["prompt"][-1]["content"].startswith("Problem bravo:") for r in bravo)


def kk_completion(truth: str, flip: bool) -> str:
    if flip:  # every role swapped: parseable but wrong
        truth = truth.replace("knight", "KNIGHT").replace("knave", "knight").replace("KNIGHT", "knave")
    reasoning = "Assume each person in turn, check every statement for a contradiction and keep the consistent case."
    return f"<think> {reasoning} </think> <answer> {truth} </answer>"


def test_kk_accuracy_by_people(tmp_path):
    from logicrl.eval.benchmarks import load_benchmark

    bench = load_benchmark("kk:2-3", kk_count=3)
    # Size 3: all right; size 2: sample 0 right, sample 1 wrong; one size-2 puzzle also gets junk.
    script = {}
    for p in bench.problems:
        if p.n_people == 3:
            script[p.problem] = [kk_completion(p.answer, False)] * 2
        else:
            script[p.problem] = [kk_completion(p.answer, False), kk_completion(p.answer, True)]
    junk_id = bench.problems[0].problem
    script[junk_id] = [kk_completion(bench.problems[0].answer, False), "no tags at all"]
    summary = run_eval(EvalConfig(benchmark="kk:2-3", kk_count=3, samples=2, out=str(tmp_path / "o"),
                                  progress=False), backend=ScriptedBackend(script))
    assert summary["accuracy_by_people"]["3"]["mean"] == 1.0
    assert summary["accuracy_by_people"]["2"]["mean"] == 0.5
    assert summary["accuracy_by_people"]["2"]["n"] == 3
    assert summary["pass@1"]["mean"] == pytest.approx((3 * 0.5 + 3 * 1.0) / 6)
    assert summary["pass@k"]["2"]["mean"] == 1.0
    assert summary["format_failure_rate"] == pytest.approx(1 / 12)


def test_compute_metrics_requires_complete_problems():
    records = [{"problem_id": "a", "sample": 0, "correct": True, "extracted": "1", "format_ok": True, "length": 3}]
    with pytest.raises(ValueError):
        compute_metrics(records, n_samples=2)
