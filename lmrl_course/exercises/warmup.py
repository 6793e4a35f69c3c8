"""Notebook 00's warm-up exercise: a numerically stable softmax."""
from __future__ import annotations

import torch

from .core import Case, Exercise
from . import register


def stable_softmax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """softmax(z)_i = exp(z_i - max z) / Σ_j exp(z_j - max z) along ``dim``.

    Subtracting the max changes nothing mathematically (it cancels) but keeps every exponent ≤ 0,
    so ``exp`` cannot overflow to ``inf``.
    """
    shifted = z - z.amax(dim=dim, keepdim=True)
    e = shifted.exp()
    return e / e.sum(dim=dim, keepdim=True)


def _cases(g: torch.Generator):
    return [
        Case("random logits, shape (4, 7)", (torch.randn(4, 7, generator=g),)),
        Case("one vector of 5 logits", (torch.randn(5, generator=g) * 3,)),
        Case("softmax over dim=0 of a (3, 4) tensor", (torch.randn(3, 4, generator=g),), {"dim": 0}),
        Case("huge logits (±1e4): exp overflows unless you subtract the max",
             (torch.tensor([[1e4, -1e4, 0.0], [1000.0, 1000.0, 999.0]]),)),
        Case("float64 input: keep the dtype", (torch.randn(2, 3, generator=g, dtype=torch.float64),)),
        Case("a batch of shape (2, 3, 6)", (torch.randn(2, 3, 6, generator=g) * 10,)),
    ]


register(Exercise(
    name="stable_softmax",
    title="A numerically stable softmax",
    reference=stable_softmax,
    cases=_cases,
    hints=[
        "softmax(z)_i = exp(z_i) / Σ_j exp(z_j), taken along `dim` (the other dimensions are a batch).",
        "exp(1e4) is inf in float32, and inf/inf is nan. Subtracting any constant c from every z_j "
        "leaves softmax unchanged: exp(z_i - c) / Σ exp(z_j - c).",
        "Use c = z.amax(dim=dim, keepdim=True); keepdim=True keeps the shape broadcastable. Sum with "
        "keepdim=True too.",
    ],
    solution='''def stable_softmax(z, dim=-1):
    shifted = z - z.amax(dim=dim, keepdim=True)   # every exponent <= 0: no overflow
    e = shifted.exp()
    return e / e.sum(dim=dim, keepdim=True)
''',
    atol=1e-6, rtol=1e-5, check_grad=True,   # later notebooks train through softmax
    nan_hint="overflow? subtract the max before exp",
    forbidden=("torch.softmax", "torch.nn.functional.softmax", "torch.Tensor.softmax", "torch.special.softmax"),
    forbidden_hint="build it from exp, sum and max",
))
