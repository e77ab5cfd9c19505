"""Records in the public K&K / Logic-RL schema: round trips, public samples, bad input, datasets."""

import json

import pytest

from puzzles import from_record, generate_kk, load_kk, save_kk, to_dataset

# A record exactly as the public K&K benchmark (mem-kk-logic, people2 train split) writes it.
PUBLIC_RECORD = {
    "quiz": "A very special island is inhabited only by knights and knaves. Knights always tell the truth, "
            "and knaves always lie. You meet 2 inhabitants: Zoey, and Oliver. Zoey remarked, \"Oliver is not "
            "a knight\". Oliver stated, \"Oliver is a knight if and only if Zoey is a knave\". So who is a "
            "knight and who is a knave?",
    "names": ["Zoey", "Oliver"],
    "knight_knave": {"knight": "knight", "knave": "knave", "a_knight": "a knight", "a_knave": "a knave",
                     "Knight": "Knight", "Knave": "Knave"},
    "solution": [False, True],
    "solution_text": "Zoey is a knave, and Oliver is a knight.",
    "solution_text_format": "(1) Zoey is a knave\n(2) Oliver is a knight",
    "cot_head": "Let's think step by step, by considering whether each person is lying and if that leads to "
                "contradiction.",
    "cot_repeat_steps": [
        "Assume Zoey is a knight. No contradiction is found in their claim that Oliver is not a knight.",
        "Oliver cannot be a knight, because this would contradict the claim of Zoey that Oliver is not a knight.",
        ("Oliver cannot be a knave, because this would contradict the false claim of their own that Oliver is a "
         "knight if and only if Zoey is a knave."),
        "We have exhausted all possibilities for Oliver, so let us go back and reconsider Zoey.",
        "Assume Zoey is a knave. No contradiction is found in their false claim that Oliver is not a knight.",
        ("Assume Oliver is a knight. No contradiction is found in their claim that Oliver is a knight if and "
         "only if Zoey is a knave."),
    ],
    "cot_foot": "This leads to a feasible solution.",
    "statements": "(('not', ('telling-truth', 1)), ('<=>', ('telling-truth', 1), ('lying', 0)))",
    "index": 0,
}


def test_public_record_is_read_exactly(tmp_path):
    path = tmp_path / "people2_num1.jsonl"
    path.write_text(json.dumps(PUBLIC_RECORD) + "\n")
    (p,) = load_kk(path, verify=True)
    assert p.names == ["Zoey", "Oliver"]
    assert p.solution == (False, True)
    assert p.statements == (("not", ("telling-truth", 1)), ("<=>", ("telling-truth", 1), ("lying", 0)))
    assert p.solution_text_format == PUBLIC_RECORD["solution_text_format"]
    assert p.roles == ("knight", "knave") and p.n_people == 2
    assert p.cot_repeat_steps == tuple(PUBLIC_RECORD["cot_repeat_steps"])
    assert p.trace.startswith(PUBLIC_RECORD["cot_head"])
    # Writing it back gives the same public fields (plus our `trace`).
    rec = p.to_record()
    assert {k: rec[k] for k in PUBLIC_RECORD} == PUBLIC_RECORD


def test_logic_rl_parquet_style_record_and_minimal_records():
    # Logic-RL's preprocessing keeps the ground truth under reward_model; names come from the format.
    rec = {"quiz": PUBLIC_RECORD["quiz"], "data_source": "kk_logic", "prompt": [{"role": "user", "content": "x"}],
           "reward_model": {"style": "rule", "ground_truth": {
               "solution_text_format": PUBLIC_RECORD["solution_text_format"],
               "statements": PUBLIC_RECORD["statements"]}}}
    p = from_record(rec)
    assert p.names == ["Zoey", "Oliver"] and p.solution == (False, True)  # solved, since not given
    assert p.trace.endswith("Therefore, Zoey is a knave, and Oliver is a knight.")


@pytest.mark.parametrize("ext", ["jsonl", "parquet"])
def test_round_trip(tmp_path, ext):
    puzzles = generate_kk(3, 15, seed=1) + generate_kk(6, 15, seed=2, roles="random", start_index=15)
    path = save_kk(puzzles, tmp_path / f"set.{ext}")
    loaded = load_kk(path, verify=True)
    assert loaded == puzzles
    assert [p.to_record() for p in loaded] == [p.to_record() for p in puzzles]
    assert [p.index for p in loaded] == list(range(30))


@pytest.mark.parametrize("mutate, msg", [
    (lambda r: r.update(statements="__import__('os').system('echo pwned')"), "not a Python literal"),
    (lambda r: r.update(statements="(('lying', 7), ('lying', 0))"), "out of range"),
    (lambda r: r.update(statements="(('sometimes', 1), ('lying', 0))"), "unknown statement operator"),
    (lambda r: r.pop("quiz"), "missing field 'quiz'"),
    (lambda r: r.update(solution=[True]), "solution has 1 entries"),
    (lambda r: r.update(solution=["yes", "no"]), "list of booleans"),
    (lambda r: r.update(names=["Zoey"]), "1 names but 2 statements"),
    (lambda r: r.update(solution=[True, True]), "not the unique solution"),
])
def test_bad_records_name_the_line(tmp_path, mutate, msg):
    bad = dict(PUBLIC_RECORD)
    mutate(bad)
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(PUBLIC_RECORD) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(ValueError, match=rf"bad\.jsonl: line 2: .*{msg}"):
        load_kk(path, verify=True)


def test_invalid_json_and_unknown_extension(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(PUBLIC_RECORD) + "\n{not json\n")
    with pytest.raises(ValueError, match="line 2: invalid JSON"):
        load_kk(path)
    with pytest.raises(ValueError, match="use .jsonl or .parquet"):
        save_kk(generate_kk(3, 1), tmp_path / "x.csv")
    assert not list(tmp_path.glob("x.csv*")) and not list(tmp_path.glob(".x.csv*"))
    not_parquet = tmp_path / "fake.parquet"
    not_parquet.write_text("hello")
    with pytest.raises(ValueError, match="not a readable parquet"):
        load_kk(not_parquet)


def test_failed_save_leaves_nothing(tmp_path):
    good = generate_kk(3, 2)[0].to_record()
    bad = dict(good, quiz=object())  # fails half-way through writing, after a good record
    for ext in ("jsonl", "parquet"):
        with pytest.raises((TypeError, ValueError, Exception)):
            save_kk([good, bad], tmp_path / f"out.{ext}")
    assert list(tmp_path.iterdir()) == []


def test_to_dataset_columns_and_prompts():
    puzzles = generate_kk(3, 4, seed=0)
    ds = to_dataset(puzzles, prompt_style="chat")
    assert len(ds) == 4
    assert ds[0]["solution_text_format"] == puzzles[0].solution_text_format
    assert ds[0]["prompt"][0]["role"] == "system" and ds[0]["prompt"][1]["content"] == puzzles[0].quiz
    base = to_dataset(puzzles, prompt_style="base", columns=["prompt", "solution_text_format"])
    assert base.column_names == ["prompt", "solution_text_format"]
    assert base[1]["prompt"].endswith("Assistant: <think>")
    with pytest.raises(ValueError, match="unknown columns"):
        to_dataset(puzzles, columns=["nope"])
