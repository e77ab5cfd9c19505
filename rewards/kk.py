"""Knights-and-Knaves answer reward, with the Logic-RL scheme (`logic_rl`) and per-person credit (`partial`).

Scores (both presets): format +1 / -1; answer +2 correct, -1.5 wrong, -2 unparseable or format failed
(totals 3, -0.5, -1, -3). `partial` replaces the +2 / -1.5 pair by -1.5 + 3.5 x (fraction of people right).

Preset `logic_rl` reproduces Logic-RL's `compute_score` (verl/utils/reward_score/kk.py) exactly. That
function sees the decoded prompt + response and counts the tags over everything after the first
"Assistant:" (else "<|im_start|>assistant"), so a <think> prefilled by the prompt counts. The text we
feed it is `logic_rl_text(prompt, completion)`:
- a string prompt that contains one of those headers: prompt + completion (what verl decodes);
- otherwise (chat prompts, bare prompts): "<|im_start|>assistant\\n" + ("<think>" if prefilled) + completion.

Preset `partial` uses the strict format (rewards.format) and the strict parser (`parse_answer`).
"""

from __future__ import annotations

import re
from functools import lru_cache, partial

from rewards.format import DEFAULT_MIN_REASONING_WORDS, check_format
from rewards.registry import RewardConfigError, RewardFn, register
from rewards.textutil import (
    ANSWER_CLOSE,
    ANSWER_OPEN,
    THINK_CLOSE,
    THINK_OPEN,
    column,
    completion_text,
    prompt_prefills_think,
    prompt_text,
)

DEFAULT_ROLES = ("knight", "knave")
KNOWN_ROLE_PAIRS = (
    ("knight", "knave"),
    ("angel", "devil"),
    ("saint", "sinner"),
    ("hero", "villain"),
    ("sage", "fool"),
    ("pioneer", "laggard"),
    ("altruist", "egoist"),
    ("truth-teller", "liar"),
)
MAX_ANSWER_CHARS = 4096
"""The strict parser calls a longer answer block unparseable (an answer is one line per person)."""
MAX_GROUND_TRUTH_CHARS = 65_536

PRESETS = {
    "logic_rl": {"format_check": "logic_rl", "parser": "logic_rl", "scoring": "exact"},
    "partial": {"format_check": "strict", "parser": "strict", "scoring": "partial"},
}

_HEADER_PLAIN = "Assistant:"
_HEADER_CHAT = "<|im_start|>assistant"


def _role_alternation(roles: tuple[str, ...]) -> str:
    return "|".join(re.escape(r) for r in roles)


# ---------------------------------------------------------------------------------------------------------
# Ground truth
# ---------------------------------------------------------------------------------------------------------


def _ground_truth_string(value) -> str | None:
    if isinstance(value, dict):  # Logic-RL's parquet stores {"solution_text_format": ..., ...}
        value = value.get("solution_text_format")
    return value if isinstance(value, str) else None


@lru_cache(maxsize=64)
def _reference_gt_regex(roles: tuple[str, str]) -> re.Pattern:
    return re.compile(rf"\b([A-Za-z]+)\b.*?\b({_role_alternation(roles)})\b", re.IGNORECASE)


@lru_cache(maxsize=8192)
def reference_expected(solution_text: str, roles: tuple[str, str] = DEFAULT_ROLES) -> dict[str, str]:
    """Logic-RL's `parse_solution_text_format`: name -> role, one "... Name ... role" per line."""
    pattern = _reference_gt_regex(roles)
    expected: dict[str, str] = {}
    for line in solution_text[:MAX_GROUND_TRUTH_CHARS].split("\n"):
        line = line.strip()
        if not line:
            continue
        match = pattern.search(line)
        if match:
            expected[match.group(1)] = match.group(2).lower()
    return expected


_GT_LINE = re.compile(r"^\s*(?:\(\d{1,3}\)|\d{1,3}[.)])?\s*([^\W\d_][\w'-]{0,63})\s+is\s+an?\s+([^\W\d_][\w-]{0,63})")


@lru_cache(maxsize=8192)
def parse_ground_truth(solution_text: str, roles: tuple[str, str] | None = None) -> tuple[dict, tuple]:
    """("(1) Zoey is a knight\\n(2) ...") -> ({name: role}, role pair) for the strict parser.

    The role pair is `roles` when given, else the two roles seen, else the known pair containing the one
    role seen (e.g. knight -> (knight, knave)).
    """
    expected: dict[str, str] = {}
    for line in solution_text[:MAX_GROUND_TRUTH_CHARS].split("\n"):
        match = _GT_LINE.match(line)
        if match:
            expected[match.group(1)] = match.group(2).lower()
    if roles is None:
        seen = tuple(dict.fromkeys(expected.values()))
        roles = None
        for pair in KNOWN_ROLE_PAIRS:
            if set(seen) <= set(pair):
                roles = pair
                break
        if roles is None:
            roles = seen[:2] if len(seen) >= 2 else (seen[0], "") if seen else DEFAULT_ROLES
    return expected, tuple(r.lower() for r in roles)


# ---------------------------------------------------------------------------------------------------------
# Logic-RL's reference scheme, reimplemented with str.find / str.count (same results, no regex on tags)
# ---------------------------------------------------------------------------------------------------------


def logic_rl_text(prompt, completion, think_prefilled: bool | None = None) -> str:
    """The text Logic-RL's compute_score would see for this prompt and completion (see module doc)."""
    text = completion_text(completion)
    p = prompt_text(prompt)
    if p is not None and (_HEADER_PLAIN in p or _HEADER_CHAT in p):
        return p + text
    prefilled = prompt_prefills_think(prompt) if think_prefilled is None else bool(think_prefilled)
    return _HEADER_CHAT + "\n" + (THINK_OPEN if prefilled else "") + text


def logic_rl_format(text: str) -> tuple[bool, str | None]:
    """Logic-RL's extract_solution + validate_response_structure: (format ok, answer text or None)."""
    i = text.find(_HEADER_PLAIN)
    if i >= 0:
        return _turn_format(text[i + len(_HEADER_PLAIN) :])
    j = text.find(_HEADER_CHAT)
    if j >= 0:
        return _turn_format(text[j + len(_HEADER_CHAT) :])
    # No header: the reference still checks the tags over the whole text but finds no answer.
    return _turn_format(text)[0], None


def _turn_format(turn: str) -> tuple[bool, str | None]:
    """Each tag exactly once and in order over the assistant turn; the answer between the answer tags."""
    if (
        turn.count(THINK_OPEN) != 1
        or turn.count(THINK_CLOSE) != 1
        or turn.count(ANSWER_OPEN) != 1
        or turn.count(ANSWER_CLOSE) != 1
    ):
        return False, None
    answer_start = turn.find(ANSWER_OPEN)
    answer_end = turn.find(ANSWER_CLOSE)
    if not turn.find(THINK_OPEN) <= turn.find(THINK_CLOSE) <= answer_start <= answer_end:
        return False, None
    return True, turn[answer_start + len(ANSWER_OPEN) : answer_end].strip()


_PROMPT_INFO: dict = {}  # prompt string -> (1, tail) | (2, tail) | (0, "")


def _prompt_info(prompt: str) -> tuple[int, str]:
    """Where the assistant header sits in a string prompt (cached: a GRPO batch repeats each prompt)."""
    info = _PROMPT_INFO.get(prompt)
    if info is None:
        i = prompt.find(_HEADER_PLAIN)
        if i >= 0:
            info = (1, prompt[i + len(_HEADER_PLAIN) :])
        else:
            j = prompt.find(_HEADER_CHAT)
            info = (2, prompt[j + len(_HEADER_CHAT) :]) if j >= 0 else (0, "")
        if len(_PROMPT_INFO) > 4096:
            _PROMPT_INFO.clear()
        _PROMPT_INFO[prompt] = info
    return info


def _logic_rl_turn_format(prompt, text: str, think_prefilled: bool | None) -> tuple[bool, str | None]:
    """Same result as logic_rl_format(logic_rl_text(prompt, text)) without building the whole text."""
    if isinstance(prompt, str):
        kind, tail = _prompt_info(prompt)
        if kind == 1:  # the first "Assistant:" is in the prompt
            return _turn_format(tail + text)
        if kind == 2:  # split at the prompt's chat header unless "Assistant:" comes later
            if _HEADER_PLAIN in text or _HEADER_PLAIN in prompt[-16:] + text[:16]:
                return logic_rl_format(prompt + text)
            return _turn_format(tail + text)
    prefilled = prompt_prefills_think(prompt) if think_prefilled is None else bool(think_prefilled)
    i = text.find(_HEADER_PLAIN)
    if i >= 0:
        return _turn_format(text[i + len(_HEADER_PLAIN) :])
    return _turn_format(("\n" + THINK_OPEN if prefilled else "\n") + text)


@lru_cache(maxsize=4096)
def _reference_name_patterns(names: tuple[str, ...], roles: tuple[str, str]) -> tuple[re.Pattern, ...]:
    alternation = _role_alternation(roles)
    return tuple(
        re.compile(rf"\b{re.escape(name)}\b\s+is\s+a\s+\b({alternation})\b", re.IGNORECASE) for name in names
    )


def logic_rl_parse(answer_text: str, names: tuple[str, ...], roles: tuple[str, str] = DEFAULT_ROLES):
    """Logic-RL's parse_model_answer: role words counted must equal the people; "Name is a role" each."""
    return _parse_with_plan(answer_text, names, roles, _reference_name_patterns(tuple(names), roles))


def _parse_with_plan(answer_text: str, names, roles, patterns):
    lowered = answer_text.lower()
    if lowered.count(roles[0]) + lowered.count(roles[1]) != len(names):
        return None
    predicted = {}
    for name, pattern in zip(names, patterns):
        match = pattern.search(answer_text)
        if match is None:
            return None
        predicted[name] = match.group(1).lower()
    return predicted


@lru_cache(maxsize=8192)
def _logic_rl_plan(solution_text: str, roles: tuple[str, str]):
    """(expected, names, name patterns) for one ground truth: parsed once per puzzle, not per sample."""
    expected = reference_expected(solution_text, roles)
    names = tuple(expected)
    return expected, names, _reference_name_patterns(names, roles)


# ---------------------------------------------------------------------------------------------------------
# Strict parser
# ---------------------------------------------------------------------------------------------------------

_LEXEME = re.compile(r"[^\W\d_]+(?:['\u2019-][^\W\d_]+)*|[\n;.!?]")
_CLAUSE_END = frozenset("\n;.!?")
_NEGATIONS = frozenset(
    ("not", "isn't", "isnt", "isn\u2019t", "never", "neither", "nor", "no", "cannot", "can't", "can\u2019t",
     "nobody", "none")
)
_NON_NAMES = frozenset(
    """the so thus therefore hence both and all then finally in conclusion summary answer final result this
    that it he she they who which there each everyone everybody one person character i we a an here yes
    also only identity identities role roles statement statements is are was were be""".split()  # noqa: SIM905
)
_LINKS = frozenset(("is", "are", "was"))
_ARTICLES = frozenset(("a", "an"))


@lru_cache(maxsize=4096)
def _lexicon(names: tuple[str, ...], roles: tuple[str, str]) -> dict[str, tuple[bool, str]]:
    """lower-case word -> (is a role, canonical name or role)."""
    lexicon = {}
    for role in roles:
        if role:
            role = role.lower()
            for form in (role, role + "s", role + "es"):
                lexicon[form] = (True, role)
    for name in names:
        lexicon[name.lower()] = (False, name)
    return lexicon


def parse_answer(answer_text: str, names, roles: tuple[str, str] = DEFAULT_ROLES) -> dict[str, str] | None:
    """Strict reading of an answer block -> {name: role}, or None when unparseable.

    Reads "(1) Zoey is a knight" lines and free-form sentences ("Zoey and Oliver are knaves", "Knights:
    Zoey"), any casing, clause by clause (clauses end at newlines and . ; ! ?). In a clause, each run of
    names takes the role that follows it ("Zoey and Ethan are knights, Oliver is a knave"), or a leading
    role is given to all the names after it ("Knights: Zoey, Ethan"). Unparseable: a person missing, two
    roles for one person, a name not in the puzzle given a role, a clause whose names and roles do not
    pair up ("Zoey is a knight or a knave"), or an answer over MAX_ANSWER_CHARS. Negated clauses ("Zoey is
    not a knave") assign nothing.
    """
    if not isinstance(answer_text, str) or len(answer_text) > MAX_ANSWER_CHARS:
        return None
    names = tuple(names)
    lexicon = _lexicon(names, tuple(roles))
    assigned: dict[str, str] = {}
    words = _LEXEME.findall(answer_text)
    words.append(".")
    lowered = [w.lower() for w in words]
    clause: list[tuple[bool, str]] = []
    negated = False
    for k, low in enumerate(lowered):
        if low in _CLAUSE_END:
            if clause and not negated and not _assign(clause, assigned):
                return None
            clause, negated = [], False
            continue
        entry = lexicon.get(low)
        if entry is not None:
            clause.append(entry)
        elif low in _NEGATIONS:
            negated = True
        elif words[k][0].isupper() and low not in _NON_NAMES and _names_a_role(lowered, k, lexicon):
            return None  # a name that is not in the puzzle, given a role
    if len(assigned) != len(names):
        return None
    return assigned


def _assign(clause: list[tuple[bool, str]], assigned: dict[str, str]) -> bool:
    """Pair the clause's names with its roles into `assigned`; False when they do not pair up or conflict."""
    has_role = has_name = False
    for is_role, _ in clause:
        if is_role:
            has_role = True
        else:
            has_name = True
    if not (has_role and has_name):
        return True  # names alone or roles alone: nothing to assign
    pairs = []
    if clause[0][0]:  # "Knights: Zoey, Ethan" -- one role, then only names
        role = clause[0][1]
        for is_role, value in clause[1:]:
            if is_role:
                return False
            pairs.append((value, role))
    else:  # runs of names, each followed by exactly one role
        pending: list[str] = []
        previous_was_role = False
        for is_role, value in clause:
            if is_role:
                if previous_was_role:
                    return False
                pairs.extend((name, value) for name in pending)
                pending = []
            else:
                pending.append(value)
            previous_was_role = is_role
        if pending:
            return False
    for name, role in pairs:
        if assigned.setdefault(name, role) != role:
            return False
    return True


def _names_a_role(lowered: list[str], k: int, lexicon: dict) -> bool:
    """Token k is followed by "is/are (a|an) <role>" or directly by a role ("Bob: knave")."""

    def is_role(word: str) -> bool:
        entry = lexicon.get(word)
        return entry is not None and entry[0]

    rest = lowered[k + 1 : k + 4]
    if rest and is_role(rest[0]):
        return True
    if len(rest) >= 2 and rest[0] in _LINKS:
        if is_role(rest[1]):
            return True
        return len(rest) == 3 and rest[1] in _ARTICLES and is_role(rest[2])
    return False


# ---------------------------------------------------------------------------------------------------------
# The reward
# ---------------------------------------------------------------------------------------------------------


def _kk_breakdown(
    prompts,
    completions,
    *,
    format_check,
    parser,
    scoring,
    think_prefilled,
    min_reasoning_words,
    scores,
    **columns,
) -> list[dict]:
    n = len(completions)
    if "solution_text_format" not in columns:
        raise RewardConfigError("the kk reward needs the dataset column 'solution_text_format'")
    truths = column(columns, "solution_text_format", n)
    role_column = column(columns, "roles" if "roles" in columns else "knight_knave", n)
    format_ok, format_fail, correct, wrong, unparseable = scores
    logic_rl_format_check = format_check == "logic_rl"
    logic_rl_parser = parser == "logic_rl"
    exact = scoring == "exact"
    rows = []
    for prompt, completion, truth, roles in zip(prompts, completions, truths, role_column):
        text = completion if type(completion) is str else completion_text(completion)
        if type(truth) is not str:
            truth = _ground_truth_string(truth)
            if truth is None:
                rows.append({"reward": None, "format": None, "answer": None, "correct": None, "length": len(text)})
                continue
        roles = DEFAULT_ROLES if roles is None else (_role_pair(roles) or DEFAULT_ROLES)
        # Format stage -> (ok, answer text).
        if logic_rl_format_check:
            ok, answer_text = _logic_rl_turn_format(prompt, text, think_prefilled)
        else:
            prefilled = prompt_prefills_think(prompt) if think_prefilled is None else bool(think_prefilled)
            result = check_format(text, think_prefilled=prefilled, min_reasoning_words=min_reasoning_words)
            ok, answer_text = result.ok, result.answer
        # Answer stage.
        fraction = 0.0
        if not ok or not answer_text:
            answer = unparseable
            predicted = None
        elif logic_rl_parser:
            expected, names, patterns = _logic_rl_plan(truth, roles)
            predicted = _parse_with_plan(answer_text, names, roles, patterns) or None
        else:
            expected, pair = parse_ground_truth(truth, None if roles is DEFAULT_ROLES else roles)
            predicted = parse_answer(answer_text, tuple(expected), pair) if expected else None
        if predicted is None:
            answer = unparseable
        elif exact:
            fraction = 1.0 if predicted == expected else 0.0
            answer = correct if fraction == 1.0 else wrong
        else:
            fraction = sum(predicted.get(k) == v for k, v in expected.items()) / len(expected)
            answer = wrong + (correct - wrong) * fraction
        format_score = format_ok if ok else format_fail
        rows.append(
            {
                "reward": format_score + answer,
                "format": format_score,
                "answer": answer,
                "correct": 1.0 if fraction == 1.0 else 0.0,
                "length": len(text),
            }
        )
    return rows


def _role_pair(value) -> tuple[str, str] | None:
    """("knight", "knave") from a `roles` pair or a public K&K `knight_knave` dict; None if neither."""
    if isinstance(value, dict):
        value = (value.get("knight"), value.get("knave"))
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(r, str) and r for r in value):
        return (value[0].lower(), value[1].lower())
    return None


@register("kk", factory=True)
def make_kk_reward(
    preset: str = "logic_rl",
    *,
    format_check: str | None = None,
    parser: str | None = None,
    scoring: str | None = None,
    think_prefilled: bool | None = None,
    min_reasoning_words: int = DEFAULT_MIN_REASONING_WORDS,
    format_score: float = 1.0,
    format_penalty: float = -1.0,
    correct_score: float = 2.0,
    wrong_score: float = -1.5,
    unparseable_score: float = -2.0,
) -> RewardFn:
    """The Knights-and-Knaves reward; reads the dataset column `solution_text_format`, and the role pair from
    the column `roles` (["angel", "devil"]) or the public K&K column `knight_knave` ({"knight": ..., "knave":
    ...}) when present.

    preset: "logic_rl" (Logic-RL's exact scheme) or "partial" (strict format and parser, credit by the
        fraction of people right). format_check ("logic_rl" | "strict"), parser ("logic_rl" | "strict") and
        scoring ("exact" | "partial") override the preset's choice.
    think_prefilled: None detects a prompt ending with "<think>"; True/False forces it.
    min_reasoning_words: strict format only, see rewards.format.
    """
    if preset not in PRESETS:
        raise RewardConfigError(f"unknown kk preset {preset!r}; choose one of {', '.join(PRESETS)}")
    chosen = dict(PRESETS[preset])
    for key, value, allowed in (
        ("format_check", format_check, ("logic_rl", "strict")),
        ("parser", parser, ("logic_rl", "strict")),
        ("scoring", scoring, ("exact", "partial")),
    ):
        if value is not None:
            if value not in allowed:
                raise RewardConfigError(f"kk option {key}={value!r}; choose one of {', '.join(allowed)}")
            chosen[key] = value
    fn = partial(
        _kk_breakdown,
        think_prefilled=think_prefilled,
        min_reasoning_words=int(min_reasoning_words),
        scores=(float(format_score), float(format_penalty), float(correct_score), float(wrong_score),
                float(unparseable_score)),
        **chosen,
    )
    return RewardFn("kk", fn)
