"""Rule-based rewards for GRPO and friends, in TRL's calling convention.

    import rewards
    kk = rewards.get("kk", preset="logic_rl")
    kk(prompts, completions, solution_text_format=[...])    # -> list[float | None]
    kk.breakdown(prompts, completions, solution_text_format=[...])   # -> [{"format": 1.0, "answer": 2.0, ...}]

    @rewards.register("brevity", per_sample=True)
    def brevity(completion: str, **row) -> float:
        return -len(completion) / 10_000

    funcs, weights = rewards.from_config([{"name": "kk"}, {"name": "brevity", "weight": 0.5}])

Built-ins: `format` (strict think/answer format), `kk` (Knights-and-Knaves; presets "logic_rl" and
"partial"), `math` (final answer by `rewards.answer`, checked with math-verify), `sokoban` (MageBench's Sokoban
score of a plan replayed on the row's level; `agents` is imported on first use). Plain Python: importing this
package imports no torch, transformers or math-verify (math-verify is loaded in a helper process on the
first math comparison that needs it).
"""

# Built-ins register themselves on import.
from rewards import format as format
from rewards import kk as kk
from rewards import math as math
from rewards import sokoban as sokoban
from rewards.registry import (
    ENTRY_POINT_GROUP,
    RewardConfigError,
    RewardFn,
    available,
    combine,
    from_config,
    get,
    load,
    register,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "RewardConfigError",
    "RewardFn",
    "available",
    "combine",
    "format",
    "from_config",
    "get",
    "kk",
    "load",
    "math",
    "register",
    "sokoban",
]
