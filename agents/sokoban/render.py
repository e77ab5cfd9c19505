"""Observations of a Sokoban scene: an RGB image in gym-sokoban's look, PNG bytes, a text grid.

The 16x16 tiles are drawn here with numpy (gym-sokoban's asset files are not copied): red brick
walls with grey mortar, black floor, targets as a red square with a red dot in the centre, yellow
crates with an orange cross, crates on targets framed in red, a green character (what MageBench's
system prompt describes: "the green character", "the yellow box", "an area with a red dot in the
center", "the red brick pattern is the wall"). An image of an H x W room is (16 H, 16 W, 3) uint8,
row 0 at the top, as gym-sokoban's ``render("rgb_array")``.
"""

from __future__ import annotations

import io

import numpy as np

TILE = 16

_BRICK = (176, 61, 0)
_MORTAR = (176, 154, 142)
_RED = (238, 0, 0)
_TARGET_RED = (239, 22, 22)
_YELLOW = (215, 196, 0)
_ORANGE = (215, 114, 0)
_DARK_ORANGE = (215, 103, 0)
_GREEN = (41, 202, 26)

_PLAYER_ART = (
    "................",
    "...G........G...",
    "....G......G....",
    "...GGGGGGGGGG...",
    "..GGG..GG..GGG..",
    "..GGG..GG..GGG..",
    ".GGGGGGGGGGGGGG.",
    ".GGGGGGGGGGGGGG.",
    ".G.GGGGGGGGGG.G.",
    ".G.GGGGGGGGGG.G.",
    ".G.G........G.G.",
    "...G........G...",
    "....GG....GG....",
    "................",
    "................",
    "................",
)


def _tile(color=(0, 0, 0)) -> np.ndarray:
    t = np.zeros((TILE, TILE, 3), dtype=np.uint8)
    t[:, :] = color
    return t


def _wall() -> np.ndarray:
    t = _tile(_BRICK)
    for y in range(TILE):
        course = y // 4
        if y % 4 == 3:
            t[y, :] = _MORTAR
        else:
            joint = 4 if course % 2 == 0 else 12
            t[y, joint] = _MORTAR
    return t


def _target(t: np.ndarray) -> np.ndarray:
    t = t.copy()
    t[2, 2:14] = t[13, 2:14] = _TARGET_RED
    t[2:14, 2] = t[2:14, 13] = _TARGET_RED
    t[6:10, 7:9] = _TARGET_RED
    t[7:9, 6:10] = _TARGET_RED
    return t


def _box(on_target: bool) -> np.ndarray:
    t = _tile(_YELLOW)
    for i in range(TILE):
        for j in (i - 1, i, i + 1):
            if 0 <= j < TILE:
                t[i, j] = _DARK_ORANGE
                t[i, TILE - 1 - j] = _DARK_ORANGE
    frame = _RED if on_target else _ORANGE
    width = 2 if on_target else 1
    t[:width, :] = t[-width:, :] = frame
    t[:, :width] = t[:, -width:] = frame
    if on_target:
        t[7:9, 7:9] = _RED
    return t


def _player(base: np.ndarray) -> np.ndarray:
    t = base.copy()
    for y, row in enumerate(_PLAYER_ART):
        for x, ch in enumerate(row):
            if ch == "G":
                t[y, x] = _GREEN
    return t


def _atlas() -> np.ndarray:
    floor = _tile()
    target = _target(floor)
    # Indexed by gym-sokoban's room_state codes, plus 6 = player on a target (as gym-sokoban does).
    tiles = [_wall(), floor, target, _box(True), _box(False), _player(floor), _player(target)]
    return np.stack(tiles)


ATLAS = _atlas()
ATLAS.flags.writeable = False


def render_rgb(room_state, room_fixed) -> np.ndarray:
    """The scene as an RGB image: (16 * height, 16 * width, 3) uint8."""
    state = np.asarray(room_state, dtype=np.int64)
    codes = np.where((state == 5) & (np.asarray(room_fixed) == 2), 6, state)
    h, w = codes.shape
    return ATLAS[codes].transpose(0, 2, 1, 3, 4).reshape(h * TILE, w * TILE, 3)


def resize_long_side(image, long_side: int):
    """Resize a PIL image so its longer side is `long_side` (LANCZOS), as MageBench's
    ``env/utils/img_utils.resize_image`` does (the other side truncated to an integer)."""
    from PIL import Image

    if type(long_side) is not int or long_side < 1:
        raise ValueError(f"long_side must be a positive integer, got {long_side!r}")
    w, h = image.size
    scale = long_side / float(max(h, w))
    return image.resize((int(w * scale), int(h * scale)), Image.LANCZOS)


def to_png(rgb: np.ndarray, long_side: int | None = None) -> bytes:
    """PNG bytes of an RGB array, resized so its longer side is `long_side` pixels when given."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")
    if long_side is not None:
        image = resize_long_side(image, long_side)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
