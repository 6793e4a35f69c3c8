"""Input checks shared by the package's public functions.

Each helper raises a ``TypeError`` (wrong kind of object or dtype) or ``ValueError`` (wrong shape or
range) whose message names the argument and says what was expected, e.g.::

    ValueError: logits must have 3 dimensions (B, T, V), got shape (4, 10)
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_INT_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def require_tensor(x, name: str, *, ndim: Optional[int | Sequence[int]] = None, kind: Optional[str] = None,
                   dims: Optional[str] = None) -> torch.Tensor:
    """Check that ``x`` is a tensor with ``ndim`` dimensions and a dtype of ``kind``.

    ``kind`` is ``"float"``, ``"int"``, ``"bool"`` or None (any). ``dims`` names the dimensions
    for the message, e.g. ``"(B, T, V)"``.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.dim() not in allowed:
            want = " or ".join(str(a) for a in allowed)
            label = f" {dims}" if dims else ""
            raise ValueError(f"{name} must have {want} dimensions{label}, got shape {tuple(x.shape)}")
    if kind == "float" and x.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if kind == "int" and x.dtype not in _INT_DTYPES:
        raise TypeError(f"{name} must be an integer tensor (token ids / actions), got dtype {x.dtype}")
    if kind == "bool" and x.dtype != torch.bool:
        raise TypeError(f"{name} must be a bool tensor, got dtype {x.dtype}")
    return x


def require_same_shape(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def require_in_range(value, name: str, low=None, high=None, *, low_inclusive: bool = True,
                     high_inclusive: bool = True) -> None:
    """Raise ``ValueError`` unless ``low <= value <= high`` (inclusivity configurable)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        bracket = "[" if low_inclusive else "("
        raise ValueError(f"{name} must be in {bracket}{low}, {high if high is not None else 'inf'}{']' if high_inclusive else ')'}, got {value}")
    if high is not None and (value > high or (value == high and not high_inclusive)):
        bracket = "]" if high_inclusive else ")"
        raise ValueError(f"{name} must be in {'[' if low_inclusive else '('}{low if low is not None else '-inf'}, {high}{bracket}, got {value}")


__all__ = ["require_tensor", "require_same_shape", "require_in_range"]
