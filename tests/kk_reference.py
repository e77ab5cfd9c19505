"""An independent reference for the puzzle tests: plain recursion, one assignment at a time.

Deliberately not `puzzles.statements.evaluate`: the tests check the product against code they do not share.
"""


def brute_eval(stmt, world):
    op = stmt[0]
    if op == "telling-truth":
        return world[stmt[1]]
    if op == "lying":
        return not world[stmt[1]]
    if op == "not":
        return not brute_eval(stmt[1], world)
    if op == "and":
        return all(brute_eval(s, world) for s in stmt[1:])
    if op == "or":
        return any(brute_eval(s, world) for s in stmt[1:])
    if op == "->":
        return (not brute_eval(stmt[1], world)) or brute_eval(stmt[2], world)
    if op == "<=>":
        return brute_eval(stmt[1], world) == brute_eval(stmt[2], world)
    raise AssertionError(op)
