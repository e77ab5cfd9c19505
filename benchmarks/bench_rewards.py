"""Reward throughput on one core, next to the baselines the rewards replace.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_rewards.py [--quick]

Prints completions scored per second for:
- K&K (format + answer) on ~2 kB completions: Logic-RL's own checker (the copy in
  tests/test_rewards_logic_rl_parity.py, its prints removed), our `kk` presets and `format`; answers as
  "(k) Name is a role" lines (what trained models write), and a mix of wordings (sentences, negations,
  role-first and list forms) that exercises the strict parser;
- answer equivalence on the cases of tests/math_equivalence_cases.py (gathered from public graders' test
  suites), each seen for the first time: `rewards.math.is_equivalent` against math-verify called directly
  (parse both + verify, in-process), time per case and cases graded right;
- math answers in a reward: math-verify alone and our `math` reward, on unique answers and GRPO-like groups;
- the slowest call of every reward on hostile 100 kB inputs, and the helper-process time bound.
Figures are measured, never stored: run it to get them.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import rewards

NAMES = ["Zoey", "Oliver", "Ethan", "Mia", "Liam", "Ava", "Noah", "Emma"]
PROMPT = (
    "<|im_start|>system\nYou are a helpful assistant. Think in <think> </think>, answer in <answer> </answer>."
    "<|im_end|>\n<|im_start|>user\nA very special island is inhabited only by knights and knaves...<|im_end|>\n"
    "<|im_start|>assistant\n<think>"
)


def load_reference():
    path = REPO / "tests" / "test_rewards_logic_rl_parity.py"
    spec = importlib.util.spec_from_file_location("logic_rl_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.compute_score


def render_answer(names: list[str], roles: list[str], wording: str) -> str:
    """One answer in a given wording (all readable by the strict parser)."""
    if wording == "lines":
        return "\n".join(f"({i + 1}) {n} is a {r}" for i, (n, r) in enumerate(zip(names, roles)))
    if wording == "sentence":
        return ", ".join(f"{n} is a {r}" for n, r in zip(names, roles)) + "."
    if wording == "negation":
        other = {"knight": "knave", "knave": "knight"}
        return " ".join(f"{n} is a {r}, not a {other[r]}." for n, r in zip(names, roles))
    if wording == "not":
        return " ".join(f"{n} is {'a knight' if r == 'knight' else 'not a knight'}." for n, r in zip(names, roles))
    knights = [n for n, r in zip(names, roles) if r == "knight"]
    knaves = [n for n, r in zip(names, roles) if r == "knave"]
    if wording == "grouped":
        return f"Knights: {', '.join(knights) or 'none'}\nKnaves: {', '.join(knaves) or 'none'}"
    # role first: "The knights are A and B, and the knave is C."
    parts = []
    for role, group in (("knight", knights), ("knave", knaves)):
        if group:
            verb = "are" if len(group) > 1 else "is"
            parts.append(f"the {role}{'s' if len(group) > 1 else ''} {verb} {' and '.join(group)}")
    text = "; ".join(parts) + "."
    return text[0].upper() + text[1:]


MIXED_WORDINGS = ("lines", "sentence", "negation", "not", "grouped", "role_first")


def kk_samples(n: int, rng: random.Random, group: int = 1, wordings=("lines",)) -> list[tuple[str, str]]:
    """(completion, ground truth) pairs of ~2 kB: mostly right, some wrong, some with broken format.

    `group` completions share a puzzle (GRPO samples num_generations completions per prompt); each answer
    is written in a wording drawn from `wordings`."""
    samples = []
    names, truth, gt = [], [], ""
    for k in range(n):
        if k % group == 0:  # a new puzzle
            names = rng.sample(NAMES, rng.randint(3, 7))
            truth = [rng.choice(["knight", "knave"]) for _ in names]
            gt = "\n".join(f"({i + 1}) {name} is a {role}" for i, (name, role) in enumerate(zip(names, truth)))
        said = list(truth) if rng.random() < 0.6 else [rng.choice(["knight", "knave"]) for _ in names]
        reasoning = []
        while sum(map(len, reasoning)) < 1800:
            a, b = rng.sample(names, 2)
            reasoning.append(f"If {a} is a {rng.choice(['knight', 'knave'])}, then the claim about {b} must be "
                             f"{rng.choice(['true', 'false'])}, which we check against the other statements. ")
        answer = render_answer(names, said, rng.choice(wordings))
        completion = "".join(reasoning) + f"</think>\n<answer>\n{answer}\n</answer>"
        if rng.random() < 0.1:
            completion = completion.replace("</think>", "", 1)
        samples.append((completion, gt))
    return samples


def rate(fn, items: int, min_seconds: float, clock=time.perf_counter) -> float:
    """Items per second of fn() (which scores `items` things), best of repeated runs over min_seconds.

    clock=time.process_time counts this process's CPU time only: right for work done wholly in-process
    (the K&K rewards) on a shared machine, where wall time also counts waiting for a CPU."""
    best = 0.0
    deadline = time.perf_counter() + min_seconds
    while True:
        start = clock()
        fn()
        elapsed = max(clock() - start, 1e-9)
        best = max(best, items / elapsed)
        if time.perf_counter() > deadline:
            return best


def bench_kk(quick: bool, group: int, wordings=("lines",)) -> None:
    rng = random.Random(0)
    samples = kk_samples(2048, rng, group, wordings)
    completions = [c for c, _ in samples]
    truths = [g for _, g in samples]
    prompts = [PROMPT] * len(samples)
    size = statistics.mean(len(c) for c in completions)
    seconds = 1.0 if quick else 3.0
    compute_score = load_reference()
    reference_inputs = [(PROMPT + c, {"solution_text_format": g}) for c, g in samples]

    def reference():
        for text, gt in reference_inputs:
            compute_score(text, gt)

    batch = 256  # scored in TRL-sized batches
    ours = {
        "kk preset=logic_rl": rewards.get("kk", preset="logic_rl"),
        "kk preset=partial (strict format + parser)": rewards.get("kk", preset="partial"),
        "format (strict) alone": rewards.get("format"),
    }
    assert all(
        compute_score(t, g) == v
        for (t, g), v in zip(reference_inputs, ours["kk preset=logic_rl"](prompts, completions, solution_text_format=truths))
    ), "parity broken"
    shape = f"groups of {group} per puzzle" if group > 1 else "every puzzle distinct"
    shape += ", answers as lines" if wordings == ("lines",) else f", answers in {len(wordings)} wordings"
    print(f"\nK&K, format + answer, {len(samples)} completions of {size:.0f} chars on average, {shape} "
          "(one core, per CPU second)")
    base = rate(reference, len(samples), seconds, clock=time.process_time)
    print(f"  {'Logic-RL compute_score (reference, prints removed)':48s} {base:>10,.0f} /s")
    for label, fn in ours.items():
        def run(fn=fn):
            for i in range(0, len(samples), batch):
                fn(prompts[i : i + batch], completions[i : i + batch], solution_text_format=truths[i : i + batch])
        value = rate(run, len(samples), seconds, clock=time.process_time)
        print(f"  {label:48s} {value:>10,.0f} /s  ({value / base:.2f}x the reference)")


def math_samples(n: int, rng: random.Random, group: int) -> tuple[list[str], list[str]]:
    """Completions with a boxed answer and their gold answers; `group` samples per problem (GRPO)."""
    completions, golds = [], []
    filler = "We expand the expression, collect like terms and check the boundary cases carefully. " * 20
    for i in range(n // group):
        kind = i % 3
        if kind == 0:
            value = rng.randint(0, 999)
            gold, right, wrong = str(value), f"{value:03d}", str(value + 1)
        elif kind == 1:
            p, q = rng.randint(1, 50), rng.randint(51, 99)
            gold, right, wrong = f"\\frac{{{p}}}{{{q}}}", f"\\dfrac{{{2 * p}}}{{{2 * q}}}", f"\\frac{{{p + 1}}}{{{q}}}"
        else:
            k = rng.randint(2, 30)
            gold, right, wrong = f"{k}\\sqrt{{2}}", f"\\sqrt{{{2 * k * k}}}", f"{k + 1}\\sqrt{{2}}"
        for j in range(group):
            pred = right if rng.random() < 0.5 else wrong
            if group > 1:
                pred = pred if j % 2 else right
            completions.append(f"<think>{filler}</think>\n<answer>The answer is $\\boxed{{{pred}}}$.</answer>")
            golds.append(gold)
    return completions, golds


def bench_math(quick: bool) -> None:
    logging.disable(logging.WARNING)
    from math_verify import parse, verify

    rng = random.Random(1)
    n = 120 if quick else 480

    for label, group in (("unique problems", 1), ("GRPO groups of 8", 8)):
        completions, golds = math_samples(n, rng, group)
        reward = rewards.get("math")
        rewards.math._verdicts.clear()
        reward(None, completions[:1], answer=golds[:1])  # start the helper process outside the timing

        def alone(completions=completions, golds=golds):
            return [verify(parse(f"${g}$"), parse(c)) for c, g in zip(completions, golds)]

        def ours(completions=completions, golds=golds, reward=reward):
            rewards.math._verdicts.clear()  # no credit for answers cached by an earlier run
            return reward(None, completions, answer=golds)

        agree = sum(bool(a) == (b == 1.0) for a, b in zip(alone(), ours()))
        print(f"\nmath, {len(completions)} completions, {label} ({agree}/{len(completions)} verdicts agree)")
        print(f"  {'math-verify alone (parse + parse + verify)':48s} {rate(alone, len(completions), 1.0):>10,.0f} /s")
        print(f"  {'math reward (extract, fast paths, helper)':48s} {rate(ours, len(completions), 1.0):>10,.0f} /s")


EQUIVALENCE_WARM_UP = [("\\frac{2}{6}", "\\frac{1}{3}"), ("x^2 - 1", "(x-1)(x+1)"), ("\\{1, 2\\}", "\\{2, 1\\}"),
                       ("2\\sqrt{3}", "\\sqrt{12}"), ("x \\geq 1", "1 \\leq x"), ("0.25", "\\frac{1}{4}")]


def equivalence_worker(who: str) -> None:
    """Run in a fresh process: grade every gathered case once with `who` ("alone": math-verify called
    directly; "ours": rewards.math.is_equivalent) after a warm-up on other pairs; print JSON
    {"seconds": [...], "verdicts": [...]}. A fresh process per round keeps every case new to both: nothing
    (sympy's cache, math-verify's lru caches, the ANTLR parser's DFA cache) has seen it before."""
    import json

    logging.disable(logging.WARNING)
    sys.path.insert(0, str(REPO / "tests"))
    from math_equivalence_cases import CASES

    if who == "alone":
        from math_verify import parse, verify

        def wrap(answer: str) -> str:
            return answer if "$" in answer else f"${answer}$"

        def grade(pred: str, gold: str) -> bool:
            return bool(verify(parse(wrap(gold), parsing_timeout=None), parse(wrap(pred), parsing_timeout=None),
                               timeout_seconds=None))
    else:
        grade = rewards.math.is_equivalent
    for pred, gold in EQUIVALENCE_WARM_UP:
        grade(pred, gold)
    cpu_start = _cpu_seconds(who)
    seconds, verdicts = [], []
    for pred, gold, _expected, _source in CASES:
        start = time.perf_counter()
        verdicts.append(bool(grade(pred, gold)))
        seconds.append(time.perf_counter() - start)
    cpu = _cpu_seconds(who) - cpu_start
    print(json.dumps({"seconds": seconds, "verdicts": verdicts, "cpu_seconds": cpu}))


def _cpu_seconds(who: str) -> float:
    """CPU time used so far by this process, plus (for "ours") by the math helper process: unlike wall time it
    does not count waiting for a CPU, which on a shared machine hits the two-process path twice per call."""
    total = time.process_time()
    worker = getattr(rewards.math, "_worker", None)
    if who == "ours" and worker is not None and worker._proc is not None:
        with open(f"/proc/{worker._proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return total


def bench_equivalence(rounds: int) -> None:
    """First-sight time per case and verdicts right: is_equivalent vs math-verify called directly."""
    import json
    import subprocess

    sys.path.insert(0, str(REPO / "tests"))
    from math_equivalence_cases import CASES

    def run(who: str) -> dict:
        out = subprocess.run([sys.executable, __file__, "--equivalence-worker", who], capture_output=True,
                             text=True, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        return json.loads(out.stdout.strip().splitlines()[-1])

    n = len(CASES)
    times: dict[str, list[list[float]]] = {"alone": [], "ours": []}
    verdicts: dict[str, list[bool]] = {}
    cpus: dict[str, list[float]] = {"alone": [], "ours": []}
    for r in range(rounds):
        for who in (("alone", "ours") if r % 2 == 0 else ("ours", "alone")):  # alternate who goes first
            result = run(who)
            times[who].append(result["seconds"])
            cpus[who].append(result["cpu_seconds"])
            verdicts[who] = result["verdicts"]
    right = {who: sum(v == c[2] for v, c in zip(verdicts[who], CASES)) for who in times}
    # Each case is new in every round; the minimum over rounds filters out other load on the machine.
    best = {who: sum(min(t[k] for t in times[who]) for k in range(n)) / n for who in times}
    per_round = [sum(o) / sum(a) for o, a in zip(times["ours"], times["alone"])]
    cpu = {who: min(c) / n for who, c in cpus.items()}
    print(f"\nanswer equivalence, {n} cases from public graders' tests (tests/math_equivalence_cases.py), "
          f"each new to both: a fresh process per side and round, {rounds} rounds")
    print(f"  {'math-verify called directly (parse + parse + verify)':58s} "
          f"{1000 * best['alone']:6.1f} ms/case   right {right['alone']}/{n}")
    print(f"  {'rewards.math.is_equivalent (clean-up, fast paths, helper)':58s} "
          f"{1000 * best['ours']:6.1f} ms/case   right {right['ours']}/{n}")
    print(f"  is_equivalent / math-verify, wall time: {best['ours'] / best['alone']:.2f}x on per-case minima "
          f"(target <= 1.1x); per round: {', '.join(f'{x:.2f}' for x in per_round)}")
    print(f"  is_equivalent / math-verify, CPU time (both processes): {cpu['ours'] / cpu['alone']:.2f}x "
          f"({1000 * cpu['ours']:.1f} vs {1000 * cpu['alone']:.1f} ms/case, best round)")
    rewards.math.is_equivalent("\\frac{1}{3}", "\\sqrt{2}")  # start the helper outside the timing
    timeout_s = 0.5
    start = time.perf_counter()
    rewards.math.is_equivalent("9^{9^{9^{9}}}", "1", timeout_s=timeout_s)
    print(f"  helper time bound: a pathological power with timeout_s={timeout_s} returned after "
          f"{time.perf_counter() - start:.2f} s (limit: timeout_s + 0.5 s grace)")


def bench_hostile() -> None:
    size = 100_000
    inputs = {
        "letters": "a" * size,
        "nested think tags": ("<think>" * (size // 16)) + ("</think>" * (size // 16)),
        "answer blocks": "<think>r</think>" + "<answer>Zoey is a knight</answer>" * (size // 33),
        "names + whitespace": "<think>r</think><answer>" + ("Zoey" + " " * 996) * (size // 1000) + "</answer>",
        "role words": "<think>r</think><answer>" + "Zoey is a knight " * (size // 17) + "</answer>",
        "nested boxed": "\\boxed{" * (size // 14) + "}" * (size // 14),
        "unicode junk": "".join(chr(0x20 + (i * 7919) % 0x2FF0) for i in range(size)),
        "word salad with numbers": "<think>" + "reason " * (size // 7) + "</think><answer>Zoey is 25 knights, "
        "Oliver 3 knaves</answer>",
        "good format, huge": "<think>" + "reason " * (size // 7) + "</think><answer>Zoey is a knight</answer>",
    }
    funcs = {
        "format": rewards.get("format"),
        "kk logic_rl": rewards.get("kk"),
        "kk partial": rewards.get("kk", preset="partial"),
        "math": rewards.get("math"),
    }
    print(f"\nhostile inputs of ~{size // 1000} kB: slowest of 5 calls per input (target <= 50 ms)")
    for name, fn in funcs.items():
        # One ordinary call first: starting math-verify's helper process and importing sympy happen once
        # per process, not per call (reported separately below).
        start = time.perf_counter()
        fn([PROMPT], ["<think>r</think><answer>(1) Zoey is a knight\n(2) Oliver is a knave \\boxed{\\frac{50}{2}}</answer>"],
           solution_text_format=["(1) Zoey is a knight\n(2) Oliver is a knave"], answer=["25"])
        first_call = time.perf_counter() - start
        worst, worst_input = 0.0, ""
        for label, text in inputs.items():
            for _ in range(5):
                start = time.perf_counter()
                fn([PROMPT], [text], solution_text_format=["(1) Zoey is a knight\n(2) Oliver is a knave"],
                   answer=["25"])
                elapsed = time.perf_counter() - start
                if elapsed > worst:
                    worst, worst_input = elapsed, label
        print(f"  {name:14s} {worst * 1000:7.2f} ms  (on '{worst_input}'; first call of the process "
              f"{first_call * 1000:.0f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timing runs")
    parser.add_argument("--equivalence-worker", choices=("alone", "ours"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.equivalence_worker:
        equivalence_worker(args.equivalence_worker)
        return
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    bench_kk(args.quick, group=8)
    bench_kk(args.quick, group=1)
    bench_kk(args.quick, group=8, wordings=MIXED_WORDINGS)
    bench_kk(args.quick, group=1, wordings=MIXED_WORDINGS)
    bench_equivalence(1 if args.quick else 3)
    bench_math(args.quick)
    bench_hostile()


if __name__ == "__main__":
    main()
