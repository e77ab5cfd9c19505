"""Level: XSB and gym-sokoban array round trips, metadata, and refusal of bad levels."""

import subprocess
import sys

import numpy as np
import pytest

from agents.sokoban import Level, LevelError, generate_level, optimal_reward, parse_xsb
from tests.conftest import REPO

SIMPLE = """\
#######
#     #
# $@. #
#  $  #
#  .  #
#######
"""

ALL_SYMBOLS = """\
########
#  *   #
# $. + #
# $    #
#  *   #
########
"""


def test_xsb_round_trip_and_geometry():
    lv = Level.from_xsb(SIMPLE)
    assert lv.to_xsb(metadata=False) == SIMPLE
    assert Level.from_xsb(lv.to_xsb()) == lv
    assert (lv.height, lv.width, lv.n_boxes) == (6, 7, 2)
    assert lv.player == (2, 3)
    assert lv.boxes == {(2, 2), (3, 3)}
    assert lv.targets == {(2, 4), (4, 3)}
    assert not lv.is_solved and lv.boxes_on_targets == 0
    full = Level.from_xsb(ALL_SYMBOLS)
    assert full.player == (2, 5) and (2, 5) in full.targets
    assert full.boxes_on_targets == 2 and full.n_boxes == 4


def test_array_codes_and_round_trip():
    lv = Level.from_xsb(ALL_SYMBOLS)
    fixed, state = lv.to_arrays()
    assert fixed.shape == state.shape == (6, 8)
    # gym-sokoban codes: fixed 0 wall / 1 floor / 2 target; state adds 3 box on target, 4 box, 5 player.
    assert fixed[0, 0] == 0 and state[0, 0] == 0
    assert fixed[1, 3] == 2 and state[1, 3] == 3          # '*'
    assert fixed[2, 2] == 1 and state[2, 2] == 4          # '$'
    assert fixed[2, 3] == 2 and state[2, 3] == 2          # '.'
    assert fixed[2, 5] == 2 and state[2, 5] == 5          # '+'
    assert fixed[1, 1] == 1 and state[1, 1] == 1          # ' '
    assert Level.from_arrays(fixed, state) == lv
    # gym-sokoban's generator leaves code 4 on every box, even one over a target: still "box on target".
    state2 = state.copy()
    state2[state2 == 3] = 4
    assert Level.from_arrays(fixed, state2) == lv
    # float arrays, as gym-sokoban sometimes holds them, are accepted.
    assert Level.from_arrays(fixed.astype(float), state.astype(float)) == lv


def test_generated_levels_round_trip_both_ways():
    for seed in range(20):
        lv = generate_level("small-v1" if seed % 2 else "v0", seed)
        assert Level.from_xsb(lv.to_xsb()) == lv
        fixed, state = lv.to_arrays()
        back = Level.from_arrays(fixed, state)
        assert back.rows == lv.rows
        f2, s2 = back.to_arrays()
        assert np.array_equal(f2, fixed) and np.array_equal(s2, state)


def test_metadata_and_optimal_reward():
    text = "; name: lvl-1\n; config: small-v0\n; max_steps: 30\n; optimal_moves: 6\n; solution: DlluRR\n" + SIMPLE
    lv = Level.from_xsb(text)
    assert (lv.name, lv.config, lv.max_steps, lv.optimal_moves, lv.solution) == ("lvl-1", "small-v0", 30, 6, "DlluRR")
    assert lv.optimal_reward == 11.4 == optimal_reward(2, 6)
    assert Level.from_xsb(lv.to_xsb()) == lv
    assert "; optimal_reward: 11.4" in lv.to_xsb()
    # U alone is enough: moves are derived from it; a contradiction is refused.
    assert Level.from_xsb("; optimal_reward: 11.4\n" + SIMPLE).optimal_moves == 6
    with pytest.raises(LevelError, match="does not match"):
        Level.from_xsb("; optimal_moves: 6\n; optimal_reward: 11.0\n" + SIMPLE)
    # U keeps one decimal exactly (10.8, not 10.799999999999999).
    assert optimal_reward(3, 22) == 10.8 and repr(optimal_reward(4, 23)) == "11.7"


def test_collection_aliases_and_titles():
    text = "; a comment\n" + SIMPLE.replace(" ", "-") + "Title: first\n\n; name: second\n" + ALL_SYMBOLS
    levels = parse_xsb(text)
    assert [lv.name for lv in levels] == ["first", "second"]
    assert levels[0].rows == Level.from_xsb(SIMPLE).rows
    with pytest.raises(LevelError, match="expected one level, found 2"):
        Level.from_xsb(text)
    # trailing spaces and CRLF line ends do not change the level
    assert Level.from_xsb("#####   \r\n#@$.#\r\n#####\r\n") == Level.from_xsb("#####\n#@$.#\n#####\n")
    # p/P/b/B aliases
    assert Level.from_xsb("#####\n#pb.#\n#####\n").rows == ("#####", "#@$.#", "#####")


@pytest.mark.parametrize("text, message", [
    ("", "expected one level, found 0"),
    ("#####\n#@$ #\n#####\n", "as many targets as boxes"),
    ("#####\n#@ .#\n#####\n", "at least one box"),
    ("######\n#@$.@#\n######\n", "exactly one player"),
    ("#####\n#@$. \n#####\n", "not closed"),
    ("#######\n#@$.# #\n#### $#\n#   .##\n#######\n", "outside the player's area"),
    ("; optimal_moves: x\n#####\n#@$.#\n#####\n", "must be an integer"),
])
def test_bad_levels_are_refused_with_one_line(text, message):
    with pytest.raises(LevelError, match=message) as e:
        Level.from_xsb(text)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("text, message", [
    # a stray character in a map row names itself and the row, instead of ending the map silently
    ("#####\n#@$.#\n#@ X #\n#####\n", r"line 3: unknown character 'X' in line 3 of the map$"),
    ("#####\n#@$.#\n#####\n#  X#\n", r"line 4: unknown character 'X' in line 4 of the map$"),
    ("#####\n#@$.#\n#####\n\n  # X #\n", r"line 5: unknown character 'X' in line 1 of the map$"),
    ("-#####\n-#@$.#\n-#####\n-#é#\n", r"unknown character 'é' in line 4 of the map"),
    ("#####\n#@$.#\n#\t  #\n#####\n", "line 3: tabs are not allowed in a map"),
])
def test_unknown_map_characters_are_named_with_their_line(text, message):
    with pytest.raises(LevelError, match=message) as e:
        parse_xsb(text)
    assert "\n" not in str(e.value)


TINY = "#####\n#@$.#\n#####\n"


@pytest.mark.parametrize("meta, message", [
    ("; optimal_moves: 99999999999999999999999", "optimal_moves must be an integer from 0 to 300"),
    ("; optimal_moves: 301", "optimal_moves must be an integer from 0 to 300"),
    ("; optimal_moves: -1", "optimal_moves must be an integer from 0 to 300"),
    ("; optimal_reward: -1e20", "optimal_moves must be an integer from 0 to 300"),
    ("; optimal_moves: 5\n; solution: R", "solution has 1 moves but optimal_moves is 5"),
    ("; config: nonsense-v9", "unknown Sokoban configuration 'nonsense-v9'"),
    ("; solution: x", "LURD notation"),
    ("; solution: L", r"solution move 1 \('L'\) is blocked"),
    ("; solution: uR", r"solution move 1 \('u'\) is blocked"),
    ("; solution: RL", "solves the level after 1 moves but has 2"),
])
def test_bad_metadata_is_refused_with_one_line(meta, message):
    with pytest.raises(LevelError, match=message) as e:
        Level.from_xsb(meta + "\n" + TINY)
    assert "\n" not in str(e.value)


def test_solution_must_solve_the_level():
    # every move possible, but one box is left off its target
    with pytest.raises(LevelError, match="does not solve the level \\(1 of 2 boxes"):
        Level.from_xsb("; optimal_moves: 1\n; solution: D\n" + SIMPLE)
    with pytest.raises(LevelError, match="does not solve"):
        Level(Level.from_xsb(SIMPLE).rows, solution="Dllu")


def test_valid_metadata_still_loads():
    assert Level.from_xsb("; config: Sokoban-v1\n" + TINY).config == "v1"  # gym id accepted, normalized
    assert Level.from_xsb("; optimal_moves: 300\n" + TINY).optimal_moves == 300
    assert Level.from_xsb("; optimal_moves: 1\n; solution: R\n" + TINY).solution == "R"
    assert Level.from_xsb("; optimal_moves: 0\n; solution:\n#####\n#@* #\n#####\n").solution == ""
    # comments and blank lines between levels, '-'/'_' floor, and free text lines are kept as before
    text = "; header\n\n" + TINY + "Title: one\nAuthor: me\n\n; next\n_#####\n_#@$.#\n-#####\n"
    assert [lv.name for lv in parse_xsb(text)] == ["one", ""]
    for seed in range(4):
        lv = generate_level("small-v0", seed)
        assert Level.from_xsb(lv.to_xsb()) == lv


def test_bad_arrays_are_refused():
    fixed, state = Level.from_xsb(SIMPLE).to_arrays()
    bad = state.copy()
    bad[0, 0] = 1
    with pytest.raises(LevelError, match="disagree on a wall"):
        Level.from_arrays(fixed, bad)
    with pytest.raises(LevelError, match="one shape"):
        Level.from_arrays(fixed, state[:3])
    bad = state.copy()
    bad[1, 1] = 9
    with pytest.raises(LevelError, match="codes must be 0 to 5"):
        Level.from_arrays(fixed, bad)


def test_agents_imports_no_trainer_or_torch():
    code = ("import sys, agents, agents.sokoban, agents.loop, agents.parsing; "
            "bad = [m for m in ('torch', 'transformers', 'logicrl', 'trl') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
