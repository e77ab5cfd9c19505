"""Ray orchestration: Ray Train workers, vLLM rollout engines (actors fed adapters through the object
store), reward actor pools, parallel puzzle generation, job submission.

Imported only when a recipe asks for Ray, so the base install does not need the `ray` extra.
"""
