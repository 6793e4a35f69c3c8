"""Input checks shared by the package's public functions.

Each helper raises a ``TypeError`` (wrong kind of object or dtype) or ``ValueError`` (wrong shape or
range) whose message names the argument and says what was expected, e.g.::

    ValueError: logits must have 3 dimensions (B, T, V), got shape (4, 10)

Checks of a tensor's *values* (token ids in range, a mask of 0/1) need the values on the host; on a
GPU that is a synchronisation, which would stall every training step. So value checks run only for
tensors on the CPU (:func:`on_host`); on an accelerator only dtype and shape are checked (free), and
a bad value there surfaces as torch's own (device-side) error. Run a failing step on the CPU to get
the package's message.
"""
from __future__ import annotations

import math
import numbers
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
    """Raise ``ValueError`` unless ``low <= value <= high`` (inclusivity configurable).

    ``value`` must be a real number (a Python or NumPy int/float, not a bool); NaN is rejected, as it
    compares False with every bound and would otherwise pass silently.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    lo = "-inf" if low is None else low
    hi = "inf" if high is None else high
    interval = f"{'[' if low_inclusive else '('}{lo}, {hi}{']' if high_inclusive else ')'}"
    if math.isnan(value):
        raise ValueError(f"{name} must be a number in {interval}, got nan")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        raise ValueError(f"{name} must be in {interval}, got {value}")
    if high is not None and (value > high or (value == high and not high_inclusive)):
        raise ValueError(f"{name} must be in {interval}, got {value}")


def on_host(x: torch.Tensor) -> bool:
    """True when ``x`` lives on the CPU, where reading its values costs no device synchronisation."""
    return x.device.type == "cpu"


def require_mask(mask, name: str) -> torch.Tensor:
    """Check that ``mask`` is a bool tensor, or an int/float tensor holding only 0 and 1.

    A mask of 2 or 0.5 would silently weigh a sample twice or half (``mask.to(x.dtype)``) or count as
    True (``mask.bool()``). The values are checked only on the CPU (see the module docstring).
    """
    require_tensor(mask, name)
    if mask.dtype == torch.bool:
        return mask
    if mask.dtype not in _FLOAT_DTYPES + _INT_DTYPES:
        raise TypeError(f"{name} must be a bool tensor or a tensor of 0/1, got dtype {mask.dtype}")
    if on_host(mask) and mask.numel() and not bool(((mask == 0) | (mask == 1)).all()):
        bad = mask[(mask != 0) & (mask != 1)].reshape(-1)[:5].tolist()
        raise ValueError(f"{name} must hold only 0/1 (or be a bool tensor), got values {bad}")
    return mask


def require_ids_in_range(ids: torch.Tensor, name: str, high: int, *, ignore_index: Optional[int] = None) -> None:
    """Raise ``ValueError`` unless every id of ``ids`` lies in [0, high) (or equals ``ignore_index``).

    Checked only on the CPU (see the module docstring); the caller checks the dtype.
    """
    if not on_host(ids) or ids.numel() == 0:
        return
    ids = ids.long()
    bad = (ids < 0) | (ids >= high)
    if ignore_index is not None:
        bad &= ids != ignore_index
    if bool(bad.any()):
        also = f" or equal ignore_index={ignore_index}" if ignore_index is not None else ""
        raise ValueError(f"{name} must hold token ids in [0, {high}){also}; got {ids[bad][:5].tolist()}")


__all__ = ["require_tensor", "require_same_shape", "require_in_range", "on_host", "require_mask",
           "require_ids_in_range"]
