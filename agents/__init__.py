"""Agent environments (Sokoban, WebUI, Football as in MageBench) and their scoring.

Not yet implemented: no issue has been taken for it. This package knows nothing of the trainer.
"""
