"""An optimal Rush Hour solver: breadth-first search over board states (one move = one car slid
k >= 1 cells), with a quick unsolvability check first. Board and move formats: :mod:`.board`."""

from __future__ import annotations

from rlvr.tasks.rush_hour.board import EMPTY, WALL, Board, Move, parse_board, state_grid


def lane_can_clear(board: Board) -> bool:
    """A quick necessary condition for solvability: every cell between A and the exit is empty
    or holds a vertical car that walls and the board edges let slide out of A's row."""
    row, front = board.cars[0].line, board.start[0] + board.cars[0].length - 1
    grid = state_grid(board, board.start)
    index = {car.name: i for i, car in enumerate(board.cars)}
    for c in range(front + 1, board.width):
        name = grid[row][c]
        if name == EMPTY:
            continue
        if name == WALL or board.cars[index[name]].horizontal:
            return False
        car, top = board.cars[index[name]], board.start[index[name]]
        up = top
        while up > 0 and (up - 1, c) not in board.walls:
            up -= 1
        down = top + car.length - 1
        while down < board.height - 1 and (down + 1, c) not in board.walls:
            down += 1
        if not (row - up >= car.length or down - row >= car.length):
            return False
    return True


def _slides(mask: list[int], others: int, pos: int) -> list[int]:
    """Positions a car with per-position cell masks ``mask`` can slide to from ``pos``."""
    out = []
    q = pos - 1
    while q >= 0 and not mask[q] & others:
        out.append(q)
        q -= 1
    q = pos + 1
    while q < len(mask) and not mask[q] & others:
        out.append(q)
        q += 1
    return out


def solve(board: Board | str, max_states: int = 200_000, max_depth: int | None = None) -> list[Move] | None:
    """An optimal move list by breadth-first search (one move = one car slid k >= 1 cells), or
    None when the board is unsolvable, needs more than ``max_depth`` moves, or the search visits
    more than ``max_states`` states."""
    board = parse_board(board) if isinstance(board, str) else board
    cars, width = board.cars, board.width
    if board.start[0] == board.goal():
        return []
    if not lane_can_clear(board):
        return None
    walls = 0
    for r, c in board.walls:
        walls |= 1 << (r * width + c)
    masks = []
    for i in range(len(cars)):
        per_pos = []
        for pos in range(board.axis_len(i) - cars[i].length + 1):
            m = 0
            for r, c in board.cells(i, pos):
                m |= 1 << (r * width + c)
            per_pos.append(m)
        masks.append(per_pos)
    goal, start = board.goal(), board.start
    parent: dict[tuple[int, ...], tuple[tuple[int, ...], int, int] | None] = {start: None}

    def path(state: tuple[int, ...]) -> list[Move]:
        out = []
        while (link := parent[state]) is not None:
            prev, i, pos = link
            delta = pos - prev[i]
            arrow = (">" if delta > 0 else "<") if cars[i].horizontal else ("v" if delta > 0 else "^")
            out.append(Move(cars[i].name, arrow, abs(delta)))
            state = prev
        return out[::-1]

    frontier, depth = [start], 0
    while frontier and (max_depth is None or depth < max_depth):
        depth += 1
        following = []
        for state in frontier:
            occupied = walls
            for i, pos in enumerate(state):
                occupied |= masks[i][pos]
            for i, pos in enumerate(state):
                mask = masks[i]
                others = occupied & ~mask[pos]
                for q in _slides(mask, others, pos):
                    new = (*state[:i], q, *state[i + 1 :])
                    if new in parent:
                        continue
                    parent[new] = (state, i, q)
                    if i == 0 and q == goal:
                        return path(new)
                    following.append(new)
            if len(parent) > max_states:
                return None
        frontier = following
    return None
