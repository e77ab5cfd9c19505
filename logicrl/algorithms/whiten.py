"""Masked whitening, shared by REINFORCE++ and PPO (verl's `masked_whiten`)."""

from __future__ import annotations

import torch


def masked_whiten(values: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(values - mean) / sqrt(var + eps) over the entries where `mask` is 1, with the unbiased variance
    (count / (count - 1)), as verl's `masked_whiten`. Shapes: any, `mask` broadcastable to `values`.

    The trainer gathers every process's completions before calling an estimator, so this one function
    serves single- and multi-process runs alike.
    """
    mask = mask.to(values.dtype)
    count = mask.sum()
    mean = (values * mask).sum() / count.clamp(min=1.0)
    var = (((values - mean) ** 2) * mask).sum() / count.clamp(min=1.0)
    if count > 1:
        var = var * count / (count - 1)
    return (values - mean) * torch.rsqrt(var + eps)
