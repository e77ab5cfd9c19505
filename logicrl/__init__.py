"""LogicRL: rule-based reinforcement learning for reasoning.

Heavy imports (torch, transformers, trl) are deferred so that `import logicrl` and
`logicrl --help` stay fast.
"""

__version__ = "0.1.0"


def train(config):
    """Train a policy from a `logicrl.config.TrainConfig` (or a dict / YAML path); returns a
    `logicrl.training.TrainResult`. See `logicrl.training` and docs/training.md."""
    from logicrl.training import train as _train

    return _train(config)
