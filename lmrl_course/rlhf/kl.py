"""Per-token KL estimators between the policy π_θ and the frozen reference π_ref.

For a token x_t sampled from π_θ(· | x_<t), with the log-ratio  l_t = log π_θ(x_t|x_<t) − log π_ref(x_t|x_<t):

    k1_t = l_t                                 unbiased for KL(π_θ ‖ π_ref), can be negative
    k2_t = ½ l_t²                              biased, never negative
    k3_t = (e^{−l_t} − 1) + l_t                unbiased and never negative (x − 1 ≥ log x)

(Schulman, "Approximating KL divergence", 2020). Summed over the tokens of a response, k1 is an
unbiased estimate of the KL between the two distributions over whole responses. ``exact_kl`` gives
the exact per-position KL from both models' full next-token distributions, to check them against.
"""
from __future__ import annotations

from typing import Optional

import torch

from ..validation import require_in_range, require_mask, require_same_shape, require_tensor

__all__ = ["kl_k1", "kl_k2", "kl_k3", "exact_kl"]


def _pair(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    require_tensor(logp, "logp", kind="float")
    require_tensor(ref_logp, "ref_logp", kind="float")
    require_same_shape(logp, ref_logp, "logp", "ref_logp")
    return logp - ref_logp


def _masked(x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
    if mask is None:
        return x
    require_mask(mask, "mask")
    require_same_shape(mask, x, "mask", "logp")
    return x.masked_fill(~mask.bool(), 0.0)


def kl_k1(logp: torch.Tensor, ref_logp: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """k1_t = log π_θ(x_t) − log π_ref(x_t), per token (0 where ``mask`` is False)."""
    return _masked(_pair(logp, ref_logp), mask)


def kl_k2(logp: torch.Tensor, ref_logp: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """k2_t = ½ (log π_θ(x_t) − log π_ref(x_t))², per token (0 where ``mask`` is False)."""
    return _masked(0.5 * _pair(logp, ref_logp) ** 2, mask)


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """k3_t = (r_t − 1) − log r_t with r_t = π_ref(x_t)/π_θ(x_t), per token; ≥ 0 (0 where ``mask`` is False).

    Equal to ``lmrl_course.rl.ppo.approx_kl_k3(ref_logp, logp)`` before its mean.
    """
    log_r = -_pair(logp, ref_logp)
    return _masked(torch.expm1(log_r) - log_r, mask)


def exact_kl(logits: torch.Tensor, ref_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Exact KL(p ‖ q) = Σ_v p(v) (log p(v) − log q(v)) at every position, with
    p = softmax(logits / τ) and q = softmax(ref_logits / τ). (..., V) -> (...).

    Tokens with p(v) = 0 (a −inf logit) contribute 0, as 0·log 0 = 0; p(v) > 0 with q(v) = 0 gives +inf.
    Computed in float64 for float64 inputs, else in float32 (half-precision inputs are upcast).
    """
    require_tensor(logits, "logits", kind="float")
    require_tensor(ref_logits, "ref_logits", kind="float")
    require_same_shape(logits, ref_logits, "logits", "ref_logits")
    require_in_range(temperature, "temperature", 0.0, None, low_inclusive=False)
    if logits.dim() == 0 or logits.shape[-1] == 0:
        raise ValueError(f"logits has size 0 along dim=-1 (shape {tuple(logits.shape)}): a distribution needs at "
                         f"least one option")
    dtype = torch.promote_types(torch.promote_types(logits.dtype, ref_logits.dtype), torch.float32)
    logp = torch.log_softmax(logits.to(dtype) / temperature, dim=-1)  # (..., V)
    logq = torch.log_softmax(ref_logits.to(dtype) / temperature, dim=-1)  # (..., V)
    p = logp.exp()
    diff = torch.where(p > 0, logp - logq, torch.zeros_like(logp))  # 0·log 0 = 0: no NaN from −inf − (−inf)
    return (p * diff).sum(dim=-1)  # (...)
