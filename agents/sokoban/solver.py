"""Optimal Sokoban solver: the fewest MOVES (every step counts, as in MageBench's score).

A* over push states. A node is (player cell, set of boxes) right after a push; an edge is "walk to
the cell behind a box, then push it one cell", costing the walk's length plus one. Walk lengths come
from a breadth-first flood of the player's free cells, one layer per step, done on Python integers
used as bit sets (one bit per cell), so a node costs a few dozen big-integer operations.

Heuristic (admissible and consistent, so the first time the goal is taken off the queue its cost is
optimal): the minimum-cost matching of boxes to targets, each pair costing the pushes that box needs
to reach that target with no other box in the way (each push is at least one move; one push changes
the matching by at most one). Pruned: pushes onto dead squares (cells from which no target can be
reached, the classic simple deadlock) and pushes that freeze a box off target in a 2x2 block of
walls and boxes.

`solve` also takes a move bound (nodes whose lower bound exceeds it are cut) and an expansion budget
(`SolverBudgetExceeded` when spent), so a generator can ask "is it solvable in at most 50 moves"
at a bounded cost. `solve_brute_force` is the plain breadth-first search over (player, boxes) the
tests check optimality against.
"""

from __future__ import annotations

import heapq
from collections import deque

from agents.sokoban.level import Level, moves_to_lurd

INF = 1 << 30
MAX_RELAXATION_AREA = 400
"""Above this many reachable cells the single-box bound (a cells**2 table) is left out."""
DEFAULT_MAX_EXPANSIONS = 200_000
"""Push states expanded before `solve` gives up (a few seconds in the worst case on one core)."""

MOVES = ("Up", "Down", "Left", "Right")


class SolverBudgetExceeded(RuntimeError):
    """The search spent its expansion budget before finishing (the level is neither solved nor
    proved unsolvable within the bound)."""


def _bits(m: int):
    while m:
        low = m & -m
        yield low.bit_length() - 1
        m ^= low


def _shift(m: int, d: int) -> int:
    return m << d if d > 0 else m >> -d


class Grid:
    """A level's geometry compiled for search: cell masks, push distances, dead squares."""

    def __init__(self, level: Level):
        w = level.width
        self.level = level
        self.w = w
        self.deltas = (-w, w, -1, 1)  # Up, Down, Left, Right
        self.area = 0
        for i in level.area:
            self.area |= 1 << i
        self.targets = 0
        self.target_cells = sorted(r * w + c for r, c in level.targets)
        for i in self.target_cells:
            self.targets |= 1 << i
        self.boxes0 = 0
        for r, c in level.boxes:
            self.boxes0 |= 1 << (r * w + c)
        pr, pc = level.player
        self.player0 = pr * w + pc
        # Push distances from every cell to every target, other boxes ignored (reverse BFS with pulls).
        area = level.area
        k = len(self.target_cells)
        dist = {i: [INF] * k for i in area}
        for t_idx, t in enumerate(self.target_cells):
            dist[t][t_idx] = 0
            queue = deque([t])
            while queue:
                x = queue.popleft()
                dx = dist[x][t_idx] + 1
                for d in self.deltas:
                    y, player = x - d, x - 2 * d  # the box was at y, pushed from `player`
                    if y in area and player in area and dist[y][t_idx] > dx:
                        dist[y][t_idx] = dx
                        queue.append(y)
        self.dist = dist
        self.live = 0
        for i, row in dist.items():
            if min(row) < INF:
                self.live |= 1 << i
        self._h_cache: dict[int, int] = {}
        self._layers = [[m for m in range(1 << k) if (m).bit_count() == i] for i in range(k + 1)]
        n = level.height * w
        if len(area) > MAX_RELAXATION_AREA:  # the table grows as cells**2: do without it
            self.n_cells, self.single = 0, [0] * n  # single[0 * p + b] == 0: no bound
        else:
            self.n_cells, self.single = n, self._single_box_moves(n, area)
        # The four 2x2 squares around each cell, as masks, for the freeze test.
        full = (1 << (level.height * w)) - 1
        self.walls = full & ~self.area
        self.squares = {}
        for e in area:
            self.squares[e] = tuple(
                (1 << e) | (1 << (e + dx)) | (1 << (e + dy)) | (1 << (e + dx + dy))
                for dx in (-1, 1) for dy in (-w, w))

    def _single_box_moves(self, n: int, area) -> list[int]:
        """Single-box relaxation: ``[p * n + b]`` = fewest moves that bring a box at b to some
        target when it is the only box and the player stands at p (backward BFS from the goals)."""
        single = [INF] * (n * n)
        queue = deque()
        for t in self.target_cells:
            for p in area:
                if p != t:
                    single[p * n + t] = 0
                    queue.append((p, t))
        while queue:
            p, b = queue.popleft()
            nd = single[p * n + b] + 1
            for d in self.deltas:
                q = p - d  # the player stepped from q to p
                if q not in area or q == b:
                    continue
                if single[q * n + b] > nd:  # a plain move
                    single[q * n + b] = nd
                    queue.append((q, b))
                if b == p + d and single[q * n + p] > nd:  # a push: the box was at p
                    single[q * n + p] = nd
                    queue.append((q, p))
        return single

    def matching(self, boxes: int, cells) -> int:
        """Minimum-cost matching of the boxes (`cells`, mask `boxes`) to targets, in pushes; INF
        when no matching exists. Cached by box set."""
        v = self._h_cache.get(boxes)
        if v is not None:
            return v
        k = len(self.target_cells)
        dp = [INF] * (1 << k)
        dp[0] = 0
        dist = self.dist
        for i, b in enumerate(cells):
            row = dist[b]
            for m in self._layers[i]:
                val = dp[m]
                if val >= INF:
                    continue
                for t in range(k):
                    bit = 1 << t
                    if not m & bit:
                        nv = val + row[t]
                        if nv < dp[m | bit]:  # noqa: PLR1730 (hot loop: a call to min() costs ~20%)
                            dp[m | bit] = nv
        v = dp[-1]
        v = min(v, INF)
        if len(self._h_cache) < 2_000_000:
            self._h_cache[boxes] = v
        return v

    def heuristic(self, player: int, boxes: int, cells) -> int:
        """Admissible, consistent lower bound on the moves left: the larger of the box-target
        matching (pushes) and the worst single-box relaxation (moves)."""
        base = player * self.n_cells
        single = self.single
        h = 0
        for x in cells:
            v = single[base + x]
            h = max(h, v)
        m = self.matching(boxes, cells)
        return max(h, m)

    def frozen(self, boxes: int, e: int) -> bool:
        """True when the box just pushed to cell `e` sits in a 2x2 block of walls and boxes that
        holds a box off target (no box of such a block can ever move again)."""
        open_cells = ~(self.walls | boxes)
        loose = boxes & ~self.targets
        for square in self.squares[e]:
            if not square & open_cells and square & loose:
                return True
        return False

    def walk(self, start: int, goal: int, boxes: int) -> list[int]:
        """Direction indices of one shortest walk from `start` to `goal` avoiding boxes."""
        if start == goal:
            return []
        free = self.area & ~boxes
        prev = {start: None}
        queue = deque([start])
        while queue:
            x = queue.popleft()
            for k, d in enumerate(self.deltas):
                y = x + d
                if y not in prev and (free >> y) & 1:
                    prev[y] = (x, k)
                    if y == goal:
                        path = []
                        while prev[y] is not None:
                            y, kk = prev[y]
                            path.append(kk)
                        return path[::-1]
                    queue.append(y)
        raise AssertionError("no walk to a push position that the search found reachable")


def _search(level: Level, max_moves: int | None, max_expansions: int):
    """A* search; returns (direction indices, push flags) or None."""
    g = Grid(level)
    area, live, targets, w = g.area, g.live, g.targets, g.w
    deltas, single, n_cells, matching, frozen = g.deltas, g.single, g.n_cells, g.matching, g.frozen
    bound = INF if max_moves is None else max_moves
    if g.boxes0 == targets:
        return [], []
    cells0 = tuple(_bits(g.boxes0))
    h0 = g.heuristic(g.player0, g.boxes0, cells0)
    if h0 >= INF or h0 > bound:
        return None
    start = (g.player0, g.boxes0)
    best = {start: 0}
    parent: dict = {start: None}
    heap = [(h0, 0, 0, g.player0, g.boxes0, cells0)]  # (f, -cost, tie, ...): deeper first on ties
    tie = 0
    expansions = 0
    heappush, heappop = heapq.heappush, heapq.heappop
    while heap:
        _, neg_cost, _, p, boxes, cells = heappop(heap)
        cost = -neg_cost
        if best[(p, boxes)] < cost:
            continue
        if boxes == targets:
            return _reconstruct(g, parent, (p, boxes))
        expansions += 1
        if expansions > max_expansions:
            raise SolverBudgetExceeded(f"solver budget of {max_expansions} expansions spent")
        free = area & ~boxes
        dest_ok = free & live
        frm = []
        wanted = 0
        for d in deltas:
            fm = _shift(boxes & _shift(dest_ok, -d), -d) & free
            frm.append(fm)
            wanted |= fm
        visited = layer = 1 << p
        nc = cost + 1  # cost of a push from the current layer
        while layer and wanted:
            hit = layer & wanted
            if hit:
                wanted &= ~hit
                for k in range(4):
                    hk = hit & frm[k]
                    if not hk:
                        continue
                    d = deltas[k]
                    for c in _bits(hk):
                        b, e = c + d, c + 2 * d
                        nb = boxes ^ (1 << b) ^ (1 << e)
                        key = (b, nb)
                        old = best.get(key)
                        if old is not None and nc >= old:
                            continue
                        if not (targets >> e) & 1 and frozen(nb, e):
                            continue
                        i = cells.index(b)
                        ncells = cells[:i] + (e,) + cells[i + 1:]
                        base = b * n_cells
                        h = 0
                        for x in ncells:
                            v = single[base + x]
                            if v > h:  # noqa: PLR1730 (hot loop)
                                h = v
                        if nc + h > bound:
                            continue
                        m = matching(nb, ncells)
                        if m > h:  # noqa: PLR1730 (hot loop)
                            h = m
                        if h >= INF or nc + h > bound:
                            continue
                        best[key] = nc
                        parent[key] = (p, boxes, c, k)
                        tie += 1
                        heappush(heap, (nc + h, -nc, tie, b, nb, ncells))
            nxt = ((layer << 1) | (layer >> 1) | (layer << w) | (layer >> w)) & free & ~visited
            visited |= nxt
            layer = nxt
            nc += 1
    return None


def _reconstruct(g: Grid, parent: dict, key):
    pushes_rev = []
    while parent[key] is not None:
        p, boxes, c, k = parent[key]
        pushes_rev.append(((p, boxes), c, k))
        key = (p, boxes)
    dirs, flags = [], []
    for (p, boxes), c, k in reversed(pushes_rev):
        walk = g.walk(p, c, boxes)
        dirs.extend(walk)
        flags.extend([False] * len(walk))
        dirs.append(k)
        flags.append(True)
    return dirs, flags


def solve(level: Level, *, max_moves: int | None = None,
          max_expansions: int = DEFAULT_MAX_EXPANSIONS) -> list[str] | None:
    """One solution of `level` with the fewest moves, as ``["Up", "Left", ...]``.

    Returns ``[]`` for a solved level and None when no solution exists (of at most `max_moves`
    moves, when given). Raises `SolverBudgetExceeded` after `max_expansions` push states.
    """
    out = _search(level, max_moves, max_expansions)
    return None if out is None else [MOVES[k] for k in out[0]]


def solve_lurd(level: Level, **kwargs) -> str | None:
    """Like `solve`, in LURD notation (lower case a move, upper case a push)."""
    out = _search(level, kwargs.get("max_moves"), kwargs.get("max_expansions", DEFAULT_MAX_EXPANSIONS))
    if out is None:
        return None
    return moves_to_lurd([MOVES[k] for k in out[0]], out[1])


def solve_brute_force(level: Level, max_moves: int = 40, max_states: int = 2_000_000) -> int | None:
    """Fewest moves by plain breadth-first search over (player, boxes) states, one move per edge.

    The reference `solve` is tested against (exponential: small levels only). Returns the length,
    or None when no solution has at most `max_moves` moves; RuntimeError past `max_states`.
    """
    w = level.width
    area = level.area
    targets = frozenset(r * w + c for r, c in level.targets)
    boxes = frozenset(r * w + c for r, c in level.boxes)
    pr, pc = level.player
    start = (pr * w + pc, boxes)
    if boxes == targets:
        return 0
    seen = {start}
    frontier = [start]
    for depth in range(1, max_moves + 1):
        nxt = []
        for p, bx in frontier:
            for d in (-w, w, -1, 1):
                n = p + d
                if n not in area:
                    continue
                if n in bx:
                    e = n + d
                    if e not in area or e in bx:
                        continue
                    nb = (bx - {n}) | {e}
                else:
                    nb = bx
                state = (n, nb)
                if state in seen:
                    continue
                if nb == targets:
                    return depth
                seen.add(state)
                nxt.append(state)
        if len(seen) > max_states:
            raise RuntimeError(f"brute force passed {max_states} states")
        frontier = nxt
        if not frontier:
            return None
    return None
