"""MageBench's Sokoban prompt texts, character for character.

Sources (microsoft/MageBench at commit 5ebd4fb9): the system prompt is ``SokobanEnv.system_prompt``
(``env/sokoban_env.py:110-124``); the Global format instruction is ``GlobalPlan.special_prompt_for_task``
(``Flow/GlobalPlanning.py:41-49``, the ``only_actions`` variant that MageBench sends); the Online one
``OnlinePlan.special_prompt_for_task`` (``Flow/Online_HL_FBandSB.py:17-23``). The system prompt
mentions a 'Restart' action in its notes; neither MageBench parser can produce it, and neither can ours.
"""

SYSTEM_PROMPT = """You're going to play a game of Sokoban, where the goal is to manipulate the green character to push the yellow box into the target area (an area with a red dot in the center). 
You'll use text commands to manipulate your character, and here are the action ID and explaination:
- 'Left': The action character moves to the left, and if there is a box on the left, pushes the box to the left.
- 'Right': The action character moves to the right, and if there is a box on the right, pushes the box to the right.
- 'Up': Character moves up, and if there is a box above, pushes the box up.
- 'Down': The action character moves down, and if there is a box underneath, pushes the box down.

Note: 
1. It is not possible to push two boxes side by side at the same time from the side-by-side direction.
2. The red brick pattern is the wall. The game can go into a lose-lose state, for example if you push the box into a corner where the corner is not the target area. In this case, you should restart the game.
"""  # (two lines end in a space, as in MageBench)

GLOBAL_FORMAT_PROMPT = (
    "Please analyze and directly output a list of actions to take. \n\n"
    "Generate all actions to fulfill the task at a time. Your output should follow this format: "
    "### Analyze\n your analyze.\n### Actions\nA long sequence of Left, Right, Up, Down, separate by ','"
)

ONLINE_FORMAT_PROMPT = (
    "You should perform 1 action for each generation, with this format: \n# analyze\nsome analyze\n"
    "# action\naction ID\n\nFor example: \n# analyze\n...\n# action\nUp"
)

TEXT_OBSERVATION_HEADER = (
    "Game scene as a text grid (# wall, @ character, $ box, . target, * box on a target, "
    "+ character on a target, space floor):"
)
"""Our addition for text-only models (``observation="text"`` or ``"both"``); MageBench sends only images."""

MOVES = ("Up", "Down", "Left", "Right")
