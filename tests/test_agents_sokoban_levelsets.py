"""The shipped level sets (MageBench's mix and mini), XSB folders, atomic saving."""

import os
import statistics
from collections import Counter

import pytest

from agents.sokoban import (
    MAGEBENCH_MINI_MIX,
    MAGEBENCH_MIX,
    Level,
    LevelError,
    check_level,
    generate_level,
    load_levels,
    mini_subset,
    save_levels,
    solve,
    solve_brute_force,
)

ALL = load_levels("all")
MINI = load_levels("mini")


def test_shipped_mix_and_recorded_optimal_data():
    assert len(ALL) == 182 and Counter(lv.config for lv in ALL) == MAGEBENCH_MIX
    assert len({lv.name for lv in ALL}) == 182
    for lv in ALL:
        assert 2 <= lv.optimal_moves <= 50 and lv.seed is not None and lv.max_steps in (120, 200, 300)
        assert lv.optimal_reward == (100 + 10 * lv.n_boxes - lv.optimal_moves) / 10
        assert lv.boxes_on_targets == 0
        check_level(lv)  # the recorded solution solves it in exactly optimal_moves moves
    moves = [lv.optimal_moves for lv in ALL]
    # MageBench's own levels: 2 to 50 moves, mean 25.3 (all), 10.3 (mini)
    assert 23 <= statistics.fmean(moves) <= 27.5
    assert 8 <= statistics.fmean(lv.optimal_moves for lv in MINI) <= 12.5


def test_mini_is_the_shortest_per_config_in_magebench_mini_mix():
    assert MINI == mini_subset(ALL)
    assert Counter(lv.config for lv in MINI) == Counter(MAGEBENCH_MINI_MIX)
    for lv in MINI:
        longer = [o.optimal_moves for o in ALL if o.config == lv.config and o not in MINI]
        assert lv.optimal_moves <= min(longer)


def test_shipped_levels_are_optimal_and_regenerate_from_their_seeds():
    small = [lv for lv in ALL if lv.config in ("small-v0", "small-v1")]
    for lv in small[:12]:
        assert solve_brute_force(lv, max_moves=lv.optimal_moves) == lv.optimal_moves
    for lv in ALL[::9]:
        if lv.config in ("small-v0", "small-v1", "v0", "large-v0"):
            assert len(solve(lv)) == lv.optimal_moves
            assert generate_level(lv.config, lv.seed, name=lv.name) == lv


def test_folder_loader_solves_missing_u_and_names_by_file(tmp_path):
    folder = tmp_path / "levels"
    folder.mkdir()
    (folder / "b.xsb").write_text("#######\n#     #\n# $@. #\n#  $  #\n#  .  #\n#######\n")
    save_levels(ALL[:2], folder / "a.xsb")
    (folder / "notes.txt").write_text("not a level")
    levels = load_levels(folder)
    assert [lv.name for lv in levels] == [ALL[0].name, ALL[1].name, "b"]
    assert levels[:2] == ALL[:2]
    assert levels[2].optimal_moves == 6 and levels[2].optimal_reward == 11.4
    assert load_levels(folder / "b.xsb", solve_missing=False)[0].optimal_moves is None
    assert oct(os.stat(folder / "a.xsb").st_mode & 0o777) != oct(0o600)
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary files left


@pytest.mark.parametrize("setup, message", [
    (lambda d: None, "no such level set or path"),
    (lambda d: d.mkdir(), "no .xsb files"),
    (lambda d: (d.mkdir(), (d / "x.xsb").write_text("#####\n#@$ #\n#####\n")), "as many targets as boxes"),
    (lambda d: (d.mkdir(), (d / "x.xsb").write_text("#####\n#@$ #\n#$ .#\n#####\n")), "as many targets"),
    (lambda d: (d.mkdir(), (d / "x.xsb").write_text("#####\n#$  #\n# .@#\n#####\n")), "has no solution"),
    (lambda d: (d.mkdir(), (d / "x.xsb").write_bytes(b"\xff\xfe")), "not UTF-8"),
])
def test_bad_sources_give_one_line_errors(tmp_path, setup, message):
    d = tmp_path / "src"
    setup(d)
    with pytest.raises(LevelError, match=message) as e:
        load_levels(d)
    assert "\n" not in str(e.value)


def test_save_levels_is_atomic_on_failure(tmp_path):
    target = tmp_path / "out.xsb"
    save_levels(ALL[:1], target)
    before = target.read_text()

    class Boom:
        def to_xsb(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        save_levels([ALL[1], Boom()], target)
    assert target.read_text() == before and len(list(tmp_path.iterdir())) == 1
    assert Level.from_xsb(before) == ALL[0]
