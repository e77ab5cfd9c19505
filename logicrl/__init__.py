"""LogicRL: rule-based reinforcement learning for reasoning.

Heavy imports (torch, transformers, trl) are deferred so that `import logicrl` and
`logicrl --help` stay fast.
"""

__version__ = "0.1.0"


def train(config, overwrite: bool = False):
    """Train a policy from a `logicrl.config.TrainConfig` (or a dict / YAML path); returns a
    `logicrl.training.TrainResult`. `overwrite`: start afresh in an output_dir that holds another run's
    files (else that is a one-line error; `resume` continues it). See `logicrl.training`, docs/training.md."""
    from logicrl.training import train as _train

    return _train(config, overwrite=overwrite)
