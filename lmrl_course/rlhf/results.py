"""Reading the precomputed RLHF runs (``assets/rlhf_*.json``): seeds aggregated, values at matched KL or time."""
from __future__ import annotations

import math
from typing import Sequence

__all__ = ["smooth", "value_at", "mean_std", "runs_of", "rm_agreement"]


def smooth(xs: Sequence[float], k: int = 5) -> list:
    """Trailing moving average over the last ``k`` values (fewer at the start)."""
    out = []
    for i in range(len(xs)):
        w = xs[max(0, i - k + 1):i + 1]
        out.append(sum(w) / len(w))
    return out


def value_at(xs: Sequence[float], ys: Sequence[float], x0: float) -> float:
    """y where the curve (xs, ys) first reaches x ≥ x0, linearly interpolated; nan if it never does."""
    for i, x in enumerate(xs):
        if x >= x0:
            if i == 0:
                return float(ys[0])
            x1, y1, x2, y2 = xs[i - 1], ys[i - 1], x, ys[i]
            return float(y1 + (y2 - y1) * (x0 - x1) / (x2 - x1)) if x2 != x1 else float(y2)
    return float("nan")


def mean_std(values: Sequence[float]) -> tuple:
    """(mean, sample std) of the finite values, (nan, nan) if none; std 0 for a single value."""
    v = [x for x in values if x is not None and x == x]
    if not v:
        return float("nan"), float("nan")
    m = sum(v) / len(v)
    s = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return m, s


def runs_of(runs: list, **match) -> list:
    """The runs whose fields equal ``match`` (e.g. ``method="ppo"``)."""
    return [r for r in runs if all(r.get(k) == v for k, v in match.items())]


def rm_agreement(rm_scores, gold, margin: float) -> float:
    """Over all pairs of responses whose gold scores differ by at least ``margin`` (the pairs the annotator would
    label), the fraction the reward model orders the same way; nan if there is no such pair. (B,) tensors in."""
    d_gold = gold[:, None] - gold[None, :]
    d_rm = rm_scores[:, None] - rm_scores[None, :]
    pairs = d_gold >= margin  # each labelled pair once, the gold-preferred one first
    return float((d_rm[pairs] > 0).float().mean()) if bool(pairs.any()) else float("nan")
