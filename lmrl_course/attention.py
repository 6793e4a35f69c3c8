"""Scaled dot-product attention, written out, and the causal self-attention layer of the GPT.

    Attention(Q, K, V) = softmax(Q Kᵀ / √d_k + M) V

Q (queries), K (keys), V (values) are (..., T, hs) with d_k = hs; M is 0 where a query may attend to a
key and -∞ where it may not. In a causal language model token t may only look at tokens ≤ t, so M is
-∞ above the diagonal.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .validation import require_tensor


def causal_mask(T: int, device=None) -> torch.Tensor:
    """The (T, T) bool lower-triangular mask: ``mask[i, j] = (j <= i)``, True = may attend."""
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ValueError(f"T must be a positive int, got {T!r}")
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()  # (T, T)


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: Optional[torch.Tensor] = None, is_causal: bool = False,
                                 return_weights: bool = False, dropout_p: float = 0.0):
    """softmax(Q Kᵀ / √d_k) V, written out step by step.

    q: (..., Tq, hs), k: (..., Tk, hs), v: (..., Tk, hv). ``mask`` is a bool tensor broadcastable to
    (..., Tq, Tk) with True = may attend (like the bool ``attn_mask`` of
    ``torch.nn.functional.scaled_dot_product_attention``); ``is_causal`` adds the lower-triangular
    mask ``j <= i``. Both may be given; a key is then allowed only where both allow it.

    A query whose whole row is masked attends to nothing: its weights are all 0 and its output is the
    zero vector (not NaN), and its gradient is zero. So does every query when there are no keys (Tk = 0);
    no queries (Tq = 0) give an empty output. q, k, v must share dtype and device.

    Returns ``out`` (..., Tq, hv), or ``(out, weights)`` with weights (..., Tq, Tk) when
    ``return_weights``. ``dropout_p > 0`` drops attention weights (training only; the returned weights
    are the ones actually used).
    """
    require_tensor(q, "q", kind="float")
    require_tensor(k, "k", kind="float")
    require_tensor(v, "v", kind="float")
    if q.dim() < 2 or k.dim() < 2 or v.dim() < 2:
        raise ValueError(f"q, k, v must have at least 2 dimensions (..., T, hs), got {tuple(q.shape)}, "
                         f"{tuple(k.shape)}, {tuple(v.shape)}")
    if not q.dtype == k.dtype == v.dtype:
        raise TypeError(f"q, k and v must have the same dtype, got {q.dtype}, {k.dtype} and {v.dtype}")
    if not q.device == k.device == v.device:
        raise ValueError(f"q, k and v must be on the same device, got {q.device}, {k.device} and {v.device}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must have the same head size, got {q.shape[-1]} and {k.shape[-1]}")
    if q.shape[-1] == 0:
        raise ValueError(f"q and k must have a head size hs >= 1 (the scores divide by √hs), got shape "
                         f"{tuple(q.shape)}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same length Tk, got {k.shape[-2]} and {v.shape[-2]}")
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be in [0, 1), got {dropout_p}")
    Tq, Tk = q.shape[-2], k.shape[-2]

    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., Tq, Tk)
    allowed = None
    if mask is not None:
        require_tensor(mask, "mask", kind="bool")
        try:
            torch.broadcast_shapes(mask.shape, scores.shape)
        except RuntimeError:
            raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to the scores' shape "
                             f"{tuple(scores.shape)} (..., Tq, Tk)") from None
        allowed = mask
    if is_causal:
        tri = torch.ones(Tq, Tk, dtype=torch.bool, device=q.device).tril()  # (Tq, Tk)
        allowed = tri if allowed is None else allowed & tri
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))  # (..., Tq, Tk)

    if Tk == 0:  # no key at all: every query attends to nothing (the fully masked case below)
        weights = scores  # (..., Tq, 0)
        out = scores @ v  # (..., Tq, hv): a sum over zero keys, i.e. zeros
        return (out, weights) if return_weights else out
    # softmax along the keys, with max subtraction; a fully masked row has max -inf -> use 0 instead,
    # so that every exp() is exp(-inf) = 0 and the row's weights are 0 / 1 = 0.
    row_max = scores.amax(dim=-1, keepdim=True).detach()  # (..., Tq, 1)
    row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max))
    e = torch.exp(scores - row_max)  # (..., Tq, Tk)
    denom = e.sum(dim=-1, keepdim=True)  # (..., Tq, 1); >= 1 unless the row is fully masked
    weights = e / torch.where(denom > 0, denom, torch.ones_like(denom))  # (..., Tq, Tk)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p, training=True)
    out = weights @ v  # (..., Tq, hv)
    return (out, weights) if return_weights else out


def rotary_tables(T: int, hs: int, base: float = 10000.0, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The rotary tables of positions 0 .. T-1 for a head of size hs: ``cos`` and ``sin``, each (T, hs).

    Channel pair i of a head is (i, i + hs/2) (the first and second half of the head: the pairing of
    GPT-NeoX and Llama; the RoFormer paper pairs neighbours 2i, 2i+1, which is the same up to a fixed
    permutation of the channels, one the learned W_Q and W_K absorb). Position t turns pair i by the angle
    t·θ_i, θ_i = base^(−2i/hs). The tables hold, for i < hs/2,

        cos[t, i] = cos[t, i + hs/2] = cos(t·θ_i),     sin[t, i] = −sin(t·θ_i),  sin[t, i + hs/2] = +sin(t·θ_i)

    so that :func:`apply_rotary` is two products and a sum (the sign of the sine is stored, not recomputed)."""
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ValueError(f"T must be a positive int, got {T!r}")
    if isinstance(hs, bool) or not isinstance(hs, int) or hs < 2 or hs % 2:
        raise ValueError(f"rotary positions need an even head size hs >= 2, got {hs!r}")
    # computed in float64 on the CPU (MPS has no float64), then float32 on ``device``
    theta = base ** (-torch.arange(0, hs, 2, dtype=torch.float64, device="cpu") / hs)  # (hs/2,)
    angle = torch.arange(T, dtype=torch.float64, device="cpu")[:, None] * theta[None, :]  # (T, hs/2)
    cos = torch.cat((angle.cos(), angle.cos()), dim=-1)  # (T, hs)
    sin = torch.cat((-angle.sin(), angle.sin()), dim=-1)  # (T, hs)
    return cos.float().to(device), sin.float().to(device)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel pair i = (x_i, x_{i+hs/2}) of every position t by the angle t·θ_i (RoPE, Su et al. 2021):

        (x_i, x_{i+hs/2}) → (x_i cos − x_{i+hs/2} sin,  x_{i+hs/2} cos + x_i sin)
        i.e.  x · cos_table + swap_halves(x) · sin_table

    x: (..., T, hs); cos, sin: (T, hs) from :func:`rotary_tables`, the rows of the positions of x. The
    score of a rotated query at t and a rotated key at s depends on the positions only through t − s.
    Returns a tensor of the shape and dtype of x."""
    half = x.shape[-1] // 2
    swapped = torch.cat((x[..., half:], x[..., :half]), dim=-1)  # (..., T, hs): (x_{i+hs/2}, x_i)
    return x * cos.to(x.dtype) + swapped * sin.to(x.dtype)  # (..., T, hs)


def split_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """(B, T, C) -> (B, H, T, hs) with hs = C // H: head h sees channels h·hs .. (h+1)·hs - 1."""
    require_tensor(x, "x", ndim=3, dims="(B, T, C)")
    B, T, C = x.shape
    if isinstance(n_head, bool) or not isinstance(n_head, int) or n_head < 1 or C % n_head != 0:
        raise ValueError(f"n_head must be a positive int that divides C={C}, got {n_head!r}")
    return x.view(B, T, n_head, C // n_head).transpose(1, 2)  # (B, H, T, hs)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, H, T, hs) -> (B, T, C) with C = H·hs; the inverse of :func:`split_heads`."""
    require_tensor(x, "x", ndim=4, dims="(B, H, T, hs)")
    B, H, T, hs = x.shape
    return x.transpose(1, 2).contiguous().view(B, T, H * hs)  # (B, T, C)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention: y = W_O · concat_h Attention(x W_Q^h, x W_K^h, x W_V^h).

    Reads ``n_embd``, ``n_head``, ``dropout``, ``bias``, ``causal`` and ``pos_encoding`` from a config
    (``GPTConfig``); with ``pos_encoding="rope"`` the queries and keys of every head are rotated by their
    position (:func:`apply_rotary`) before the scores, the only place the layer sees positions.
    Training uses PyTorch's fused ``F.scaled_dot_product_attention``; when the attention weights are
    asked for (``return_weights=True``) the written-out :func:`scaled_dot_product_attention` is used.
    ``causal=False`` removes the mask (every token sees the whole sequence, the future included).
    """

    def __init__(self, config):
        super().__init__()
        if config.n_embd % config.n_head != 0:
            raise ValueError(f"n_embd={config.n_embd} must be divisible by n_head={config.n_head}")
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout
        self.causal = config.causal
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # W_Q, W_K, W_V stacked
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)  # W_O
        self.resid_dropout = nn.Dropout(config.dropout)
        self.rotary = getattr(config, "pos_encoding", "learned") == "rope"
        if self.rotary:  # tables for positions 0 .. block_size-1; buffers (they follow .to()), not saved
            cos, sin = rotary_tables(config.block_size, config.n_embd // config.n_head, device=self.c_attn.weight.device)
            self.register_buffer("rope_cos", cos, persistent=False)  # (T_max, hs)
            self.register_buffer("rope_sin", sin, persistent=False)  # (T_max, hs)

    def rotate(self, q: torch.Tensor, k: torch.Tensor, start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Queries and keys (B, H, T, hs) of positions start .. start+T-1, rotated when ``rotary``."""
        if not self.rotary:
            return q, k
        T = q.shape[-2]
        cos, sin = self.rope_cos[start:start + T], self.rope_sin[start:start + T]  # (T, hs)
        return apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        """x: (B, T, C) -> y (B, T, C), or (y, weights (B, H, T, T)) when ``return_weights``."""
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)  # 3 x (B, T, C)
        q = split_heads(q, self.n_head)  # (B, H, T, hs)
        k = split_heads(k, self.n_head)  # (B, H, T, hs)
        v = split_heads(v, self.n_head)  # (B, H, T, hs)
        q, k = self.rotate(q, k)  # (B, H, T, hs) each; unchanged without rotary positions
        p = self.dropout if self.training else 0.0
        if return_weights:
            y, weights = scaled_dot_product_attention(q, k, v, is_causal=self.causal, return_weights=True,
                                                      dropout_p=p)  # (B, H, T, hs), (B, H, T, T)
        else:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=self.causal)  # (B, H, T, hs)
        y = self.resid_dropout(self.c_proj(merge_heads(y)))  # (B, T, C)
        return (y, weights) if return_weights else y


__all__ = ["causal_mask", "scaled_dot_product_attention", "rotary_tables", "apply_rotary", "split_heads", "merge_heads",
           "CausalSelfAttention"]
