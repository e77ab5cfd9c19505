"""The `KKPuzzle` record: one rendered puzzle with its solution and reasoning trace."""

from __future__ import annotations

from dataclasses import dataclass, field

from puzzles.render import knight_knave_dict
from puzzles.statements import format_statements

# Key order of the public K&K benchmark records (mem-kk-logic), followed by our extra `trace`.
RECORD_KEYS = ("quiz", "names", "knight_knave", "solution", "solution_text", "solution_text_format",
               "cot_head", "cot_repeat_steps", "cot_foot", "statements", "index", "trace")


@dataclass(frozen=True)
class KKPuzzle:
    """A Knights-and-Knaves puzzle with exactly one solution."""

    quiz: str
    """The puzzle text shown to the model."""
    names: list[str]
    """Inhabitants' names; names[i] says statements[i]."""
    statements: tuple
    """One nested-tuple statement per person (public K&K grammar, 0-based person indices)."""
    solution: tuple[bool, ...]
    """True = the person is a truth-teller (knight / first role)."""
    solution_text: str
    """"A is a knight, B is a knave, and C is a knight." """
    solution_text_format: str
    """"(1) A is a knight\\n(2) B is a knave\\n(3) C is a knight" (the reward's ground truth)."""
    trace: str
    """Step-by-step reasoning ending with the conclusion (cot_head, steps, cot_foot joined)."""
    n_people: int
    """Number of inhabitants."""
    roles: tuple[str, str] = ("knight", "knave")
    """(truth-teller word, liar word), e.g. ("saint", "sinner")."""
    index: int = 0
    """Position in the generated set (the public records' `index`)."""
    depth: int | None = field(default=None, compare=False)
    """Depth limit the statements were generated with (None when read from a file)."""
    width: int | None = field(default=None, compare=False)
    """Width limit ('and'/'or' parts) the statements were generated with (None when read)."""
    cot_head: str = ""
    """First sentence of the trace (public `cot_head`)."""
    cot_repeat_steps: tuple[str, ...] = ()
    """The trace's steps (public `cot_repeat_steps`)."""
    cot_foot: str = ""
    """The trace's closing sentences (public `cot_foot`)."""
    template_ids: tuple[int, ...] | None = field(default=None, compare=False)
    """Saying template of each person (kept so perturbed variants reuse the same wording)."""

    @property
    def knight_knave(self) -> dict[str, str]:
        """The public `knight_knave` dict for `roles`."""
        return knight_knave_dict(self.roles)

    def to_record(self) -> dict:
        """A dict in the public K&K / Logic-RL record schema (statements as a Python-literal string)."""
        return {
            "quiz": self.quiz,
            "names": list(self.names),
            "knight_knave": self.knight_knave,
            "solution": list(self.solution),
            "solution_text": self.solution_text,
            "solution_text_format": self.solution_text_format,
            "cot_head": self.cot_head,
            "cot_repeat_steps": list(self.cot_repeat_steps),
            "cot_foot": self.cot_foot,
            "statements": format_statements(self.statements),
            "index": self.index,
            "trace": self.trace,
        }
