"""Per-token KL estimators between the policy π_θ and the frozen reference π_ref, and where each belongs.

For a token x_t sampled from π_θ(· | x_<t), with the log-ratio  l_t = log π_θ(x_t|x_<t) − log π_ref(x_t|x_<t):

    k1_t = l_t                                 unbiased for KL(π_θ ‖ π_ref), can be negative
    k2_t = ½ l_t²                              biased, never negative
    k3_t = (e^{−l_t} − 1) + l_t                unbiased and never negative (x − 1 ≥ log x)

(Schulman, "Approximating KL divergence", 2020). Summed over the tokens of a response, k1 is an
unbiased estimate of the KL between the two distributions over whole responses. ``exact_kl`` gives
the exact per-position KL from both models' full next-token distributions, to check them against.

**Which estimator goes where.** An estimator of the KL's *value* is not automatically a loss whose
*gradient* is the KL's gradient: the tokens were sampled from π_θ, and autograd through k(x) ignores the
dependence of the sampling on θ. In expectation over x ~ π_θ (:func:`expected_estimator_gradients` computes
each case exactly on a categorical):

    k1 as a loss term:             E[∇ log π_θ(x)]                      = 0   (no pull at all)
    k2 as a loss term:             E[l(x) ∇ log π_θ(x)]                 = ∇ KL(π_θ ‖ π_ref)
    k3 as a loss term:             E[(1 − π_ref/π_θ) ∇ log π_θ(x)]      = ∇ KL(π_ref ‖ π_θ)   (the other direction)
    k1 in the reward (−β k1):      E[k1(x) ∇ log π_θ(x)] (score function) = ∇ KL(π_θ ‖ π_ref)

So **k1 belongs in the reward** (PPO, RLOO: r_t = −β k1_t, the policy gradient supplies the score-function
term that makes its gradient right), and **k3 or k2, not k1, belong in the loss** (GRPO adds β·mean k3:
a penalty that is ≥ 0 and whose gradient pulls towards π_ref, though for the reverse KL, KL(π_ref ‖ π_θ);
k2 in the loss gives the forward KL's gradient). k1's occasional negative values are not the problem; its
gradient as a loss is zero in expectation whatever its sign.

:class:`AdaptiveKLController` adapts β towards a KL target (Ziegler et al., 2019).
"""
from __future__ import annotations

from typing import Optional

import torch

from ..validation import require_in_range, require_mask, require_same_shape, require_tensor

__all__ = ["kl_k1", "kl_k2", "kl_k3", "exact_kl", "expected_estimator_gradients", "AdaptiveKLController"]


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
    """k1_t = log π_θ(x_t) − log π_ref(x_t), per token (0 where ``mask`` is False). Belongs in the reward."""
    return _masked(_pair(logp, ref_logp), mask)


def kl_k2(logp: torch.Tensor, ref_logp: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """k2_t = ½ (log π_θ(x_t) − log π_ref(x_t))², per token (0 where ``mask`` is False).
    As a loss term its expected gradient is ∇KL(π_θ ‖ π_ref)."""
    return _masked(0.5 * _pair(logp, ref_logp) ** 2, mask)


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """k3_t = (r_t − 1) − log r_t with r_t = π_ref(x_t)/π_θ(x_t), per token; ≥ 0 (0 where ``mask`` is False).
    As a loss term (GRPO) its expected gradient is ∇KL(π_ref ‖ π_θ).

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


def expected_estimator_gradients(logits: torch.Tensor, ref_logits: torch.Tensor) -> dict:
    """The exact expected gradient w.r.t. ``logits`` (θ of π_θ = softmax(θ), shape (V,)) of each way of using
    a KL estimator, by enumerating the V outcomes instead of sampling them::

        "k1_loss", "k2_loss", "k3_loss":  Σ_x π_θ(x) ∇_θ k(x)          autograd through the sampled estimator
        "k1_reward":                      Σ_x π_θ(x) k1(x) ∇_θ log π_θ(x)   −β k1 in a REINFORCE reward

    (the weights π_θ(x) and, for the reward, k1(x) are constants: the sampler's probabilities and a reward).
    Returns a dict of (V,) float64 gradients, one per key.
    """
    require_tensor(logits, "logits", ndim=1, kind="float", dims="(V,)")
    require_same_shape(ref_logits, logits, "ref_logits", "logits")
    theta = logits.detach().double().requires_grad_(True)
    logq = torch.log_softmax(ref_logits.detach().double(), dim=0)  # (V,)
    out = {}
    for name in ("k1_loss", "k2_loss", "k3_loss", "k1_reward"):
        logp = torch.log_softmax(theta, dim=0)  # (V,) log π_θ(x) for every outcome x
        weight = logp.exp().detach()  # π_θ(x): the probability of drawing x
        if name == "k1_reward":
            per_x = (logp - logq).detach() * logp  # k1(x) held fixed, times log π_θ(x)
        else:
            per_x = {"k1_loss": kl_k1, "k2_loss": kl_k2, "k3_loss": kl_k3}[name](logp, logq)
        (g,) = torch.autograd.grad((weight * per_x).sum(), theta)
        out[name] = g
    return out


class AdaptiveKLController:
    """Ziegler et al. (2019): β_{n+1} = β_n · (1 + K · e),  e = clip(KL / target − 1, −0.2, 0.2),
    K = responses / horizon. β grows while the KL per response exceeds the target and shrinks below it."""

    def __init__(self, init_kl_coef: float, target: float, horizon: int = 10_000):
        require_in_range(init_kl_coef, "init_kl_coef", 0.0, None, low_inclusive=False)
        require_in_range(target, "target", 0.0, None, low_inclusive=False)
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
            raise ValueError(f"horizon must be a positive int, got {horizon!r}")
        self.value, self.target, self.horizon = float(init_kl_coef), float(target), horizon

    def update(self, kl: float, n_responses: int) -> float:
        """Move β after a batch of ``n_responses`` whose mean KL per response was ``kl``; returns the new β."""
        error = min(max(kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_responses / self.horizon
        return self.value
