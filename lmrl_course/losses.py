"""Losses and measures of a next-token distribution, written out and numerically stable.

    log softmax(z)_i = z_i - m - log Σ_j exp(z_j - m),   m = max_j z_j      (log-sum-exp trick)
    H(p, q) = -Σ_i p_i log q_i          cross-entropy; with p one-hot on the target y: -log q_y
    H(p) = -Σ_i p_i log p_i             entropy
    KL(p ‖ q) = Σ_i p_i (log p_i - log q_i)
    perplexity = exp(mean NLL),   bits per char = mean NLL / ln 2

Subtracting the max m changes nothing mathematically (it cancels) but keeps every exp() ≤ 1, so
logits of ±1e4 neither overflow to inf nor underflow to a log(0).
"""
from __future__ import annotations

import math
from typing import Union

import torch

from .validation import require_ids_in_range, require_tensor

Number = Union[float, int, torch.Tensor]


def _check_dim(x: torch.Tensor, dim: int, name: str) -> None:
    if isinstance(dim, bool) or not isinstance(dim, int) or not -x.dim() <= dim < max(x.dim(), 1):
        raise ValueError(f"dim={dim!r} is out of range for {name} of shape {tuple(x.shape)}")
    if x.dim() and x.shape[dim] == 0:
        raise ValueError(f"{name} has size 0 along dim={dim} (shape {tuple(x.shape)}): a distribution needs at "
                         f"least one option")


def log_softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log softmax(z)_i = z_i - m - log Σ_j exp(z_j - m) with m = max_j z_j.

    A slice that is all -inf (every option masked) gives NaN, as in torch; a slice with some -inf
    entries gives -inf there and finite values elsewhere.
    """
    require_tensor(logits, "logits", kind="float")
    _check_dim(logits, dim, "logits")
    m = logits.amax(dim=dim, keepdim=True).detach()  # the shift does not change the value; no gradient needed
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    shifted = logits - m
    return shifted - torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))


def softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """softmax(z)_i = exp(z_i - m) / Σ_j exp(z_j - m), m = max_j z_j."""
    require_tensor(logits, "logits", kind="float")
    _check_dim(logits, dim, "logits")
    m = logits.amax(dim=dim, keepdim=True).detach()
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    e = torch.exp(logits - m)
    return e / e.sum(dim=dim, keepdim=True)


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy of integer targets under softmax(logits), like ``torch.nn.functional.cross_entropy``.

    logits (N, V) with targets (N,), or logits (B, T, V) with targets (B, T) (the class axis is last,
    unlike torch's (B, V, T)). Per position, with ε = ``label_smoothing``:

        ℓ = (1 - ε)·(-log q_y) + ε·(1/V) Σ_i (-log q_i),      q = softmax(z)

    i.e. H(p, q) with target distribution p = (1 - ε)·onehot(y) + ε/V. Positions whose target equals
    ``ignore_index`` contribute 0 and are not counted. ``reduction``: "none" (shape of targets),
    "sum", or "mean" = sum / number of non-ignored positions (NaN if all are ignored, as torch).
    Targets outside [0, V) raise ``ValueError`` for CPU tensors; on a GPU they are not checked (that
    would synchronise every step) and torch's gather raises instead.
    """
    require_tensor(logits, "logits", ndim=(2, 3), kind="float", dims="(N, V) or (B, T, V)")
    require_tensor(targets, "targets", ndim=logits.dim() - 1, kind="int",
                   dims="(N,)" if logits.dim() == 2 else "(B, T)")
    if targets.shape != logits.shape[:-1]:
        raise ValueError(f"targets must have shape {tuple(logits.shape[:-1])} to match logits "
                         f"{tuple(logits.shape)}, got {tuple(targets.shape)}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
            or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    V = logits.shape[-1]
    targets = targets.long()
    valid = targets != ignore_index  # shape of targets
    require_ids_in_range(targets, "targets", V, ignore_index=ignore_index)  # on the CPU only: no GPU sync

    logq = log_softmax(logits, dim=-1)  # (..., V)
    safe_targets = torch.where(valid, targets, torch.zeros_like(targets))  # any valid index for the gather
    nll = -logq.gather(-1, safe_targets.unsqueeze(-1)).squeeze(-1)  # (...,)
    if label_smoothing > 0.0:
        smooth = -logq.mean(dim=-1)  # (1/V) Σ_i -log q_i
        loss = (1.0 - label_smoothing) * nll + label_smoothing * smooth
    else:
        loss = nll
    loss = torch.where(valid, loss, torch.zeros_like(loss))  # (...,)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / valid.sum()


def entropy(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """H(p) = -Σ_i p_i log p_i of p = softmax(logits), in nats; 0·log 0 is taken as 0."""
    logp = log_softmax(logits, dim=dim)
    p = torch.exp(logp)
    # where p = 0, logp may be -inf: use 0 instead so neither the value nor the gradient becomes NaN
    safe_logp = torch.where(p > 0, logp, torch.zeros_like(logp))
    return -(p * safe_logp).sum(dim=dim)


def kl_divergence(p_logits: torch.Tensor, q_logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """KL(p ‖ q) = Σ_i p_i (log p_i - log q_i), p = softmax(p_logits), q = softmax(q_logits); exact
    (a sum over the whole vocabulary, not a sample estimate). Terms with p_i = 0 count 0; p_i > 0 with
    q_i = 0 gives +inf."""
    require_tensor(p_logits, "p_logits", kind="float")
    require_tensor(q_logits, "q_logits", kind="float")
    if p_logits.shape != q_logits.shape:
        raise ValueError(f"p_logits and q_logits must have the same shape, got {tuple(p_logits.shape)} and "
                         f"{tuple(q_logits.shape)}")
    _check_dim(p_logits, dim, "p_logits")
    logp = log_softmax(p_logits, dim=dim)
    logq = log_softmax(q_logits, dim=dim)
    p = torch.exp(logp)
    pos = p > 0
    diff = torch.where(pos, logp - torch.where(pos, logq, torch.zeros_like(logq)), torch.zeros_like(logp))
    return (p * diff).sum(dim=dim)


def perplexity(mean_nll: Number) -> Number:
    """exp(mean NLL): the effective number of equally likely choices per token.

    A mean NLL too large for a float (above ~709.78 nats) gives ``inf``, as ``torch.exp`` does.
    """
    if isinstance(mean_nll, torch.Tensor):
        return torch.exp(mean_nll)
    if isinstance(mean_nll, bool) or not isinstance(mean_nll, (int, float)):
        raise TypeError(f"mean_nll must be a number or tensor, got {type(mean_nll).__name__}")
    if mean_nll < 0:
        raise ValueError(f"mean_nll must be >= 0 (a negative log-likelihood of discrete tokens), got {mean_nll}")
    try:
        return math.exp(mean_nll)
    except OverflowError:
        return math.inf


def bits_per_char(mean_nll: Number) -> Number:
    """mean NLL / ln 2: the loss in bits per character instead of nats."""
    if isinstance(mean_nll, torch.Tensor):
        return mean_nll / math.log(2.0)
    if isinstance(mean_nll, bool) or not isinstance(mean_nll, (int, float)):
        raise TypeError(f"mean_nll must be a number or tensor, got {type(mean_nll).__name__}")
    return mean_nll / math.log(2.0)


__all__ = ["log_softmax", "softmax", "cross_entropy", "entropy", "kl_divergence", "perplexity", "bits_per_char"]
