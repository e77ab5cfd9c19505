"""Both reply parsers on tricky replies; the magebench one against MageBench's own code, verbatim."""

import random

import pytest

from agents import get_parser, parser_names, register_parser
from agents.parsing import MAX_PLAN_ACTIONS, MAX_REPLY_CHARS

MOVES = ("Up", "Down", "Left", "Right")
MB = get_parser("magebench")
TOL = get_parser("tolerant")


def magebench_global_reference(ostring):
    """Flow/GlobalPlanning.py:104-113 (microsoft/MageBench), the Sokoban branch, as published."""
    args = []
    if "### Actions" in ostring:
        ostring = ostring.split("### Actions")[1].strip()
    else:
        ostring = ostring.strip()
    als = [a.strip() for a in ostring.split(",")]
    for a in als:
        if a in ["Up", "Down", "Left", "Right"]:
            args.append({"name": a})
    return [a["name"] for a in args]


def magebench_online_reference(ostring):
    """Flow/Online_HL_FBandSB.py:24-41, the Sokoban branch, as published."""
    if "# action" in ostring:
        ostring = ostring.split("# action")[1].strip()
    ac = ostring.strip()
    return ac if ac in ["Up", "Down", "Left", "Right"] else None


GLOBAL_CASES = [
    # (reply, magebench, tolerant)
    ("### Analyze\nPush right.\n### Actions\nRight, Right, Up", ["Right", "Right", "Up"], ["Right", "Right", "Up"]),
    ("### Actions\nUp\nDown\nLeft", [], ["Up", "Down", "Left"]),                # one per line
    ("### Actions\nup, down, LEFT", [], ["Up", "Down", "Left"]),                # case
    ("### Actions\n- Up\n- Down\n1. Left.\n2) Right", [], ["Up", "Down", "Left", "Right"]),
    ("### Actions\nUp, Up, Jump, Left", ["Up", "Up", "Left"], ["Up", "Up", "Left"]),  # bad token dropped
    ("### Actions\nUp , Down ,Left,", ["Up", "Down", "Left"], ["Up", "Down", "Left"]),
    ("Up, Down", ["Up", "Down"], ["Up", "Down"]),                              # no heading: whole reply
    ("### actions\nUp, Down", ["Down"], ["Up", "Down"]),                       # heading case
    ("### Actions\nUp, Down\n### Actions\nLeft", ["Up", "Down"], ["Up", "Down"]),  # split()[1]: to the 2nd
    ("### Analyze\nI push the box up, then left.\n### Actions\n`Left`, **Up**", [], ["Left", "Up"]),
    ("### Actions: Up -> Up -> Right", [], ["Up", "Up", "Right"]),
    ("### Actions\nUp Up Right", [], ["Up", "Up", "Right"]),
    ("I go up, Left", ["Left"], ["Left"]),                                     # prose piece dropped
    ("```\n### Actions\nDown, Down\n```", ["Down"], ["Down", "Down"]),          # fenced: "Down\n```" one piece
    ("", [], []),
    ("### Actions\n", [], []),
    ("Actions speak louder than words. Right", [], []),
]


@pytest.mark.parametrize("reply, mb, tol", GLOBAL_CASES)
def test_global_parsers(reply, mb, tol):
    assert MB.plan(reply, MOVES) == mb == magebench_global_reference(reply)
    assert TOL.plan(reply, MOVES) == tol


ONLINE_CASES = [
    ("# analyze\nThe box is above.\n# action\nUp", "Up", "Up"),
    ("# analyze\n...\n# action\nup", None, "Up"),
    ("# Analyze\n...\n# Action\nLeft", None, "Left"),                          # heading case
    ("# action\nUp (pushes the box)", None, "Up"),
    ("# action\n**Right**.", None, "Right"),
    ("# action: Down", None, "Down"),                                          # ": Down" is not "Down"
    ("Down", "Down", "Down"),
    ("  Down \n", "Down", "Down"),
    ("# action\nUp, Left", None, "Up"),
    ("# action\nUp Left", None, None),                                         # two moves: refuse
    ("# action\nMove up", None, None),
    ("# analyze\nI will go Up.\n", None, None),                                # no action given
    ("# analyze\nx\n# actions\nRight", None, "Right"),                         # "# actions" -> "s\nRight"
    ("# action\nUp\n# action\nDown", "Up", "Up"),
    ("", None, None),
]


@pytest.mark.parametrize("reply, mb, tol", ONLINE_CASES)
def test_online_parsers(reply, mb, tol):
    assert MB.action(reply, MOVES) == mb == magebench_online_reference(reply)
    assert TOL.action(reply, MOVES) == tol


def test_magebench_parser_equals_reference_on_random_replies():
    rng = random.Random(0)
    pieces = ["Up", "Down", "Left", "Right", "up", " Up", "Left ", "\n", ",", ", ", "### Actions", "# action",
              "### Analyze", "# analyze", "x", "Restart", "  ", "\t", "DOWN", "->"]
    for _ in range(3000):
        reply = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 12)))
        assert MB.plan(reply, MOVES) == magebench_global_reference(reply)
        assert MB.action(reply, MOVES) == magebench_online_reference(reply)
        for parser in (MB, TOL):  # nothing outside the vocabulary, ever
            assert set(parser.plan(reply, MOVES)) <= set(MOVES)
            assert parser.action(reply, MOVES) in (None, *MOVES)


def test_hostile_replies_are_bounded():
    huge = "### Actions\n" + "Up, " * 200_000
    assert len(MB.plan(huge, MOVES)) <= MAX_PLAN_ACTIONS
    assert len(TOL.plan(huge, MOVES)) <= MAX_PLAN_ACTIONS
    assert len(huge) > MAX_REPLY_CHARS
    for bad in (None, 42, b"Up"):
        assert MB.plan(bad, MOVES) == [] and TOL.action(bad, MOVES) is None


def test_registry():
    assert {"magebench", "tolerant"} <= set(parser_names())
    with pytest.raises(ValueError, match="unknown parser"):
        get_parser("nope")

    @register_parser("first-word", "plan")
    def _plan(reply, actions):
        return [reply.split()[0]] if reply.split() else []

    @register_parser("first-word", "action")
    def _action(reply, actions):
        return "Jump"  # outside the vocabulary: filtered out by the registry wrapper

    p = get_parser("first-word")
    assert p.plan("Left and more", MOVES) == ["Left"] and p.plan("Fly", MOVES) == []
    assert p.action("anything", MOVES) is None
