"""Best-of-n sampling: the baseline every RLHF method must beat. No training: sample n responses from the
base policy, keep the one the reward model scores highest.

The KL from the base policy π to the best-of-n policy π_n, for a continuous reward without ties
(Stiennon et al. 2020; Beirami et al. 2024 show it is an upper bound in general)::

    KL(π_n ‖ π) = log n − (n − 1) / n

(π_n(y) = n π(y) F(y)^{n−1} with F the reward's CDF; KL = E[log n + (n−1) log F] and log F(y) ~ −Exp(1)
under π_n scaled by 1/n.) It grows only logarithmically: n = 16 costs log 16 − 15/16 ≈ 1.84 nats.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import torch

from ..gpt import GPT
from .rollout import LMRollout, sample_responses

__all__ = ["best_of_n_kl", "best_of_n"]


def best_of_n_kl(n: int) -> float:
    """log n − (n − 1)/n, the KL (nats) of best-of-n sampling from the base policy; 0 for n = 1."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    return math.log(n) - (n - 1) / n


@torch.no_grad()
def best_of_n(policy: GPT, prompts: torch.Tensor, reward_fn: Callable, n: int, max_new_tokens: int,
              temperature: float, eos_id: Optional[int] = None, pad_id: int = 0,
              generator: Optional[torch.Generator] = None, missing_eos_penalty: float = 0.0) -> tuple:
    """For each of the B prompts, n responses from ``policy``; keep the one with the highest
    ``reward_fn`` score (minus ``missing_eos_penalty`` if it never ended).

    Returns ``(rollout, scores)``: the B chosen responses as an :class:`LMRollout` and their (penalised) scores (B,).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    B = prompts.shape[0]
    ro = sample_responses(policy, prompts.repeat_interleave(n, dim=0), max_new_tokens, temperature, eos_id, pad_id,
                          generator)  # (B·n, N): the n candidates of a prompt are adjacent
    score = reward_fn(ro.prompt, ro.response, ro.mask).float() - missing_eos_penalty * ro.truncated.float()
    best = score.view(B, n).argmax(dim=1) + n * torch.arange(B, device=score.device)  # (B,) row of the winner
    pick = lambda x: None if x is None else x[best]  # noqa: E731
    chosen = LMRollout(ro.prompt[best], ro.response[best], ro.logp[best], ro.mask[best], ro.temperature, eos_id,
                       pad_id, pick(ro.entropy))
    return chosen, score[best]
