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
MAX_UNKNOWN_WORDS = 64
"""An answer block with more capitalised words that are not in the puzzle than this is prose: unparseable."""

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


_TAG = re.compile(r"</?(?:think|answer)>")


def _turn_format(turn: str) -> tuple[bool, str | None]:
    """Each tag exactly once and in order over the assistant turn; the answer between the answer tags.

    One regex scan finds every tag (tags cannot overlap, so this counts them as str.count would) and stops
    at the first repeated tag: measured 1.8 us against 4.7 us for four str.count and four str.find passes
    over a 2 kB turn."""
    positions: dict[str, int] = {}
    for match in _TAG.finditer(turn):
        tag = match.group()
        if tag in positions:
            return False, None
        positions[tag] = match.start()
    if len(positions) != 4:
        return False, None
    answer_start, answer_end = positions[ANSWER_OPEN], positions[ANSWER_CLOSE]
    if not positions[THINK_OPEN] <= positions[THINK_CLOSE] <= answer_start <= answer_end:
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
def _reference_name_patterns(names: tuple[str, ...], roles: tuple[str, str]):
    """Logic-RL's per-name patterns, plus one pattern for all names when that gives the same first match per
    name (names are distinct ASCII words other than "is", "a" and the roles, so two matches never overlap):
    one scan of the answer instead of one per person (measured: the searches were 44% of the preset's time)."""
    alternation = _role_alternation(roles)
    per_name = tuple(
        re.compile(rf"\b{re.escape(name)}\b\s+is\s+a\s+\b({alternation})\b", re.IGNORECASE) for name in names
    )
    lowered = [name.lower() for name in names]
    blocked = {"is", "a", *(role.lower() for role in roles)}
    combined = None
    if names and len(set(lowered)) == len(names) and all(
        name.isascii() and name.isalpha() and name not in blocked for name in lowered
    ):
        combined = re.compile(
            rf"\b({'|'.join(re.escape(name) for name in names)})\b\s+is\s+a\s+\b({alternation})\b", re.IGNORECASE
        )
    return per_name, combined


def logic_rl_parse(answer_text: str, names: tuple[str, ...], roles: tuple[str, str] = DEFAULT_ROLES):
    """Logic-RL's parse_model_answer: role words counted must equal the people; "Name is a role" each."""
    return _parse_with_plan(answer_text, names, roles, _reference_name_patterns(tuple(names), roles))


def _parse_with_plan(answer_text: str, names, roles, plan):
    lowered = answer_text.lower()
    if lowered.count(roles[0]) + lowered.count(roles[1]) != len(names):
        return None
    per_name, combined = plan
    found: dict[str, str] = {}
    if combined is not None:
        for match in combined.finditer(answer_text):
            found.setdefault(match.group(1).lower(), match.group(2))
            if len(found) == len(names):
                break
    predicted = {}
    for name, pattern in zip(names, per_name):
        role = found.get(name.lower())
        if role is None:  # not seen by the combined scan (or no combined pattern): the reference's own search
            match = pattern.search(answer_text)
            if match is None:
                return None
            role = match.group(1)
        predicted[name] = role.lower()
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
#
# An answer is read clause by clause (a clause ends at a newline or . ; ! ?). A clause is cut into fragments
# at commas and joining words ("and", "but", "while", ...). In a fragment, each role mention takes the names
# next to it: names before it when the fragment starts with a name ("Zoey and Ethan are knights"), names
# after it when the fragment starts with a role ("Knights: Zoey", "The knave is Oliver"). A fragment of names
# only joins the fragment that gives them a role ("Zoey, Ethan are knights"; "Knights: Zoey, Ethan"); a
# fragment of roles only restates the last names ("Oliver is a knave, not a knight", "..., who always lies").
# A negation flips the role or the name right after it ("not a knight" = knave; "neither Zoey nor Oliver is a
# knight"); "tells the truth" / "lies" are the first / second role. A line holding only a role ("Knights:")
# heads the lines of names below it.

_CLAUSE_END = frozenset("\n;.!?")
_NEGATIONS = frozenset(
    ("not", "isn't", "isnt", "isn\u2019t", "aren't", "arent", "aren\u2019t", "wasn't", "wasnt", "wasn\u2019t",
     "never", "neither", "nor", "cannot", "can't", "can\u2019t", "doesn't", "doesnt", "doesn\u2019t", "don't",
     "dont", "don\u2019t", "nobody")
)
_HEDGES = frozenset(
    ("or", "either", "maybe", "perhaps", "possibly", "probably", "likely", "unlikely", "might", "could",
     "unclear", "unknown", "uncertain", "undetermined", "ambiguous", "undecided", "whether")
)
_NEGATING_PHRASES = ("rather than", "instead of", "as opposed to")
_SPEECH = frozenset(
    ("says", "said", "say", "claims", "claimed", "claim", "states", "stated", "asserts", "asserted", "insists",
     "insisted", "accuses", "accused", "thinks", "believes", "replies", "replied", "mentions", "mentioned")
)
"""A name right before one of these is a speaker, not the subject of the role that follows ("Zoey says
Oliver is a knave" says nothing about Zoey)."""
_HYPOTHETICAL = frozenset(("if", "suppose", "supposing", "assume", "assuming", "hypothetically", "unless"))
"""A clause with one of these is reasoning ("If Zoey were a knave, ..."): it assigns nothing."""
_JOINERS = frozenset(
    (",", "and", "but", "while", "whilst", "whereas", "however", "also", "plus", "so", "thus", "hence",
     "therefore", "then", "because", "since", "meaning", "whereby")
)
_TRUTHFUL = frozenset(("truth", "truthful", "truthfully", "truth-teller", "truth-tellers", "truthteller",
                       "truthtellers", "honest"))
_LYING = frozenset(("lie", "lies", "lied", "lying", "liar", "liars", "dishonest"))
_NON_NAMES = frozenset(
    """the so thus therefore hence both and all then finally in conclusion summary answer final result this
    that it he she they who which there each everyone everybody one person character i we a an here yes
    also only identity identities role roles statement statements is are was were be since because while
    someone somebody others rest remaining none no knights knaves note""".split()  # noqa: SIM905
)
_CANONICAL_LINE = re.compile(
    r"\s*(?:\(\d{1,3}\)|\d{1,3}[.)])?\s*([^\W\d_][\w'-]{0,63})\s+is\s+an?\s+([^\W\d_][\w-]{0,63})\s*\.?\s*"
)


@lru_cache(maxsize=4096)
def _lexicon(names: tuple[str, ...], roles: tuple[str, str]) -> dict[str, tuple[bool, str]]:
    """lower-case word -> (is a role, canonical name or role); "tells the truth"/"lies" words -> the roles."""
    lexicon: dict[str, tuple[bool, str]] = {}
    first, second = (r.lower() for r in roles)
    if first:
        lexicon.update(dict.fromkeys(_TRUTHFUL, (True, first)))
    if second:
        lexicon.update(dict.fromkeys(_LYING, (True, second)))
    for role in (first, second):
        if role:
            for form in (role, role + "s", role + "es"):
                lexicon[form] = (True, role)
    for name in names:
        lexicon[name.lower()] = (False, name)
    return lexicon


class _Unparseable(Exception):
    """The answer cannot be read as one role per person."""


def parse_answer(answer_text: str, names, roles: tuple[str, str] = DEFAULT_ROLES) -> dict[str, str] | None:
    """Strict, negation- and order-aware reading of an answer block -> {name: role}, or None when unparseable.

    Reads, in any casing and mixed within one answer: "(1) Zoey is a knight" lines; sentences ("Zoey and
    Ethan are knights, while Oliver is a knave"); role-first forms ("The knight is Zoey", "Knights: Zoey,
    Ethan", a "Knights:" line over a list of names); "Zoey: knight" and table rows; negations ("Oliver is a
    knave, not a knight", "Oliver is not a knight" = knave, as there are two roles; "Neither Zoey nor Ethan is
    a knave"); clauses that restate the role ("Zoey, who always tells the truth, is a knight"; "Oliver lies").
    Unparseable (None): a person missing; one person given both roles (directly, or by a restatement that
    contradicts: "Zoey is a knight who always lies"); a hedge ("a knight or a knave", "probably", "might");
    a name that is not in the puzzle next to a role or listed with the puzzle's names ("(4) Bob is a knave",
    "Knaves: Oliver, Bob"); more than MAX_UNKNOWN_WORDS capitalised words not in the puzzle (prose); an
    answer over MAX_ANSWER_CHARS.
    """
    if not isinstance(answer_text, str) or len(answer_text) > MAX_ANSWER_CHARS:
        return None
    names = tuple(names)
    roles = tuple(roles)
    lexicon = _lexicon(names, roles)
    assigned = _canonical_lines(answer_text, lexicon)
    if assigned is None:
        try:
            assigned = _read(answer_text, names, roles)
        except _Unparseable:
            return None
    if len(assigned) != len(set(names)):
        return None
    return assigned


def _canonical_lines(answer_text: str, lexicon: dict) -> dict[str, str] | None:
    """Fast path for the reference's own form, one "(k) Name is a role" per line; None if any line differs
    (the general reader then decides)."""
    assigned: dict[str, str] = {}
    for line in answer_text.split("\n"):
        if not line or line.isspace():
            continue
        match = _CANONICAL_LINE.fullmatch(line)
        if match is None:
            return None
        name, role = lexicon.get(match.group(1).lower()), lexicon.get(match.group(2).lower())
        if name is None or name[0] or role is None or not role[0] or match.group(2).lower() in _LYING:
            return None
        if assigned.setdefault(name[1], role[1]) != role[1]:
            return {}
    return assigned


_END, _JOIN, _NEG, _HEDGE, _NO, _SAYS, _IF = "end", "join", "neg", "hedge", "no", "says", "if"
# Words (with inner apostrophes and hyphens: "isn't", "truth-teller"; not quotes or bullets around a word)
# and the punctuation the reader uses.
_WORDS = re.compile(r"\w+(?:['\u2019-]\w+)*|[\n;.!?,]")
# A capitalised word (no look-behind: the greedy tail swallows inner capitals; measured 2x faster).
_CAPITALISED = re.compile(r"[A-Z\u00c0-\u00d6\u00d8-\u00de][\w'\u2019-]{0,63}")
_LINKED_AFTER = re.compile(
    r"(?:\s*:\s*|\s+(?:is|are|was|were)\s+(?:(?:a|an|the)\s+)?|\s+)([^\W\d_][\w'\u2019-]{0,63})", re.IGNORECASE
)
_LISTED_AFTER = re.compile(r"([^\W\d_][\w'\u2019-]{0,63})\s*(?:,|&|\band\b)\s*(?:and\s+)?\Z", re.IGNORECASE)
_LIST_END = re.compile(r"\s*(?:[,;.!?\n]|and\b|&|\Z)", re.IGNORECASE)
_LINKED_BEFORE = re.compile(r"([^\W\d_][\w'\u2019-]{0,63})(?:\s*:\s*|\s+(?:is|are|was|were)\s+)\Z", re.IGNORECASE)


@lru_cache(maxsize=4096)
def _reader(names: tuple[str, ...], roles: tuple[str, str]) -> tuple[dict, frozenset]:
    """Per puzzle: lower-case word -> what the reader does with it (a lexicon entry, or a clause end, a
    joiner, a negation, a hedge), and the role words. One dict lookup per word (measured 1.6x faster on
    sentence answers than testing each word against five sets)."""
    lexicon = _lexicon(names, roles)
    kinds: dict[str, object] = dict.fromkeys(_CLAUSE_END, _END)
    kinds.update(dict.fromkeys(_JOINERS, _JOIN))
    kinds.update(dict.fromkeys(_NEGATIONS, _NEG))
    kinds.update(dict.fromkeys(_HEDGES, _HEDGE))
    kinds.update(dict.fromkeys(_SPEECH, _SAYS))
    kinds.update(dict.fromkeys(_HYPOTHETICAL, _IF))
    kinds["no"] = _NO
    kinds.update(lexicon)  # a name or role shadows a function word spelt the same
    return kinds, frozenset(word for word, entry in lexicon.items() if entry[0])


def _unknown_name_with_role(answer_text: str, kinds: dict, role_words: frozenset) -> bool:
    """A capitalised word that is not in the puzzle, next to a role ("Bob is a knave", "Bob: knave", "The
    knave is Bob", "Knaves: Bob") or listed with the puzzle's names ("Knaves: Oliver, Bob")."""
    capitalised = _CAPITALISED.findall(answer_text)
    if not capitalised or not set(map(str.lower, capitalised)).difference(kinds, _NON_NAMES):
        return False  # every capitalised word is a name, a role or a known word: the common case, in C
    unknown = 0
    for match in _CAPITALISED.finditer(answer_text):
        word = match.group().lower()
        if word in kinds or word in _NON_NAMES:
            continue
        unknown += 1
        if unknown > MAX_UNKNOWN_WORDS:
            return True  # prose, not an answer (and it bounds the checks below on hostile text)
        after = _LINKED_AFTER.match(answer_text, match.end())
        if after is not None and after.group(1).lower() in role_words:
            return True
        before = _LINKED_BEFORE.search(answer_text, max(0, match.start() - 80), match.start())
        if before is not None and before.group(1).lower() in role_words:
            return True
        if word.isalpha() and _LIST_END.match(answer_text, match.end()):
            listed = _LISTED_AFTER.search(answer_text, max(0, match.start() - 80), match.start())
            if listed is not None and (entry := kinds.get(listed.group(1).lower())) is not None \
                    and type(entry) is tuple and not entry[0]:
                return True
    return False


def _read(answer_text: str, names: tuple[str, ...], roles: tuple[str, str]) -> dict[str, str]:
    kinds, role_words = _reader(names, roles)
    if _unknown_name_with_role(answer_text, kinds, role_words):
        raise _Unparseable
    lowered = answer_text.lower()
    for phrase in _NEGATING_PHRASES:
        if phrase in lowered:
            lowered = lowered.replace(phrase, " not ")
    # Only the words the reader acts on, looked up in C (map/filter): most words are filler ("is", "a").
    sequence = list(filter(None, map(kinds.get, _WORDS.findall(lowered))))
    sequence.append(_END)
    assigned: dict[str, str] = {}
    heading: str | None = None  # a "Knights:" line over the names below it
    fragments: list[list[tuple[bool, str, bool]]] = []
    items: list[tuple[bool, str, bool]] = []
    negated = hedged = hypothetical = False
    for k, kind in enumerate(sequence):
        if kind is _END:
            if items:
                fragments.append(items)
            if fragments:
                if hedged:  # "a knight or a knave", "probably", "might": no clause with people hedges
                    raise _Unparseable
                if not hypothetical:
                    heading = _clause(fragments, assigned, roles, heading)
            fragments, items, negated, hedged, hypothetical = [], [], False, False, False
        elif kind is _JOIN:
            if items:
                fragments.append(items)
            items, negated = [], False
        elif kind is _SAYS:
            if items and not all(not item[0] for item in items):
                fragments.append(items)  # "the knight says ...": the roles stay, the speaker names go
            items, negated = [], False
        elif kind is _IF:
            hypothetical = True
        elif kind is _NEG:
            negated = not negated
        elif kind is _HEDGE:
            hedged = True
        elif kind is _NO:  # "no knight": a negation only right before a role
            following = sequence[k + 1]
            if type(following) is tuple and following[0]:
                negated = not negated
        else:
            items.append((kind[0], kind[1], negated))
            negated = False
    return assigned


def _other(role: str, roles: tuple[str, str]) -> str:
    if not roles[0] or not roles[1]:
        raise _Unparseable  # one role known: a negation names no role
    return roles[1] if role == roles[0] else roles[0]


def _clause(fragments, assigned: dict, roles: tuple[str, str], heading: str | None) -> str | None:
    """Assign one clause's fragments into `assigned`; returns the heading role for the next lines."""
    any_role = any_name = names_only = False
    for fragment in fragments:
        has_role = has_name = False
        for item in fragment:
            if item[0]:
                has_role = True
            else:
                has_name = True
        any_role = any_role or has_role
        any_name = any_name or has_name
        names_only = names_only or (has_name and not has_role)
    if not any_role:  # names only: a list under a "Knights:" heading, else nothing to assign
        if heading is not None:
            for fragment in fragments:
                for _, name, negated in fragment:
                    _give(assigned, name, _other(heading, roles) if negated else heading)
        return heading
    if not any_name:  # roles only: "Knights:" heads the lines below
        return _run_role([item for fragment in fragments for item in fragment], roles)
    if names_only:
        fragments = _join_name_lists(fragments)
    last_names: list[tuple[bool, str, bool]] = []
    for fragment in fragments:
        last_names = _fragment(fragment, assigned, roles, last_names)
    return None


def _join_name_lists(fragments):
    """Names-only fragments join the fragment that gives them a role: the next one when it starts with a
    name or has no name ("Zoey, Ethan are knights"; "Zoey, who always lies, is a knave"), else the previous
    role-first one ("Knights: Zoey, Ethan")."""
    merged: list[list[tuple[bool, str, bool]]] = []
    pending: list[tuple[bool, str, bool]] = []
    for fragment in fragments:
        has_role = any(item[0] for item in fragment)
        if not has_role:
            pending.extend(fragment)
            continue
        if pending:
            if not fragment[0][0] or all(item[0] for item in fragment):
                fragment = pending + fragment
            elif merged and merged[-1][0][0]:
                merged[-1] = merged[-1] + pending
            pending = []
        merged.append(fragment)
    if pending and merged and merged[-1][0][0]:
        merged[-1] = merged[-1] + pending
    return merged


def _fragment(fragment, assigned: dict, roles: tuple[str, str], last_names: list) -> list:
    """Pair the runs of one fragment; returns its last run of names (what a following restatement means)."""
    size = len(fragment)
    if size == 2 and fragment[0][0] != fragment[1][0]:  # "Zoey is a knight", "The knave is Oliver"
        (_, name, name_negated), (_, role, role_negated) = fragment if fragment[1][0] else fragment[::-1]
        _give(assigned, name, _other(role, roles) if name_negated != role_negated else role)
        return [fragment[0]] if not fragment[0][0] else [fragment[1]]
    if size == 1 and fragment[0][0]:  # a restatement: "..., not a knight", "..., who lies"
        _, role, negated = fragment[0]
        role = _other(role, roles) if negated else role
        for _, name, name_negated in last_names:
            _give(assigned, name, _other(role, roles) if name_negated else role)
        return last_names
    runs: list[list[tuple[bool, str, bool]]] = []
    for item in fragment:
        if runs and runs[-1][0][0] == item[0]:
            runs[-1].append(item)
        else:
            runs.append([item])
    if runs[0][0][0]:  # role first: each run of roles takes the names after it
        for i, run in enumerate(runs):
            if run[0][0]:
                role = _run_role(run, roles)
                targets = runs[i + 1] if i + 1 < len(runs) else last_names  # a trailing run restates
                for _, name, negated in targets:
                    _give(assigned, name, _other(role, roles) if negated else role)
            else:
                last_names = run
        return last_names
    for i, run in enumerate(runs):  # name first: each run of roles takes the names before it
        if run[0][0]:
            role = _run_role(run, roles)
            for _, name, negated in runs[i - 1]:
                _give(assigned, name, _other(role, roles) if negated else role)
        else:
            last_names = run
    return last_names


def _run_role(run, roles: tuple[str, str]) -> str:
    """The one role a run of role mentions says ("a knave, not a knight" -> knave); conflicting -> error."""
    result = None
    for _, role, negated in run:
        role = _other(role, roles) if negated else role
        if result is None:
            result = role
        elif result != role:
            raise _Unparseable
    return result


def _give(assigned: dict, name: str, role: str) -> None:
    if assigned.setdefault(name, role) != role:
        raise _Unparseable


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
