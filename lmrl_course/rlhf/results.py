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


def binned_means(xs: Sequence[float], ys: Sequence[float], edges: Sequence[float]) -> list:
    """Mean of ``ys`` in each bin ``edges[k] <= x < edges[k+1]``: a list of dicts ``lo, hi, n, mean, sem``
    (sem: standard error of the mean, nan for fewer than 2 values; empty bins are left out)."""
    xs, ys = [float(x) for x in xs], [float(y) for y in ys]
    if len(xs) != len(ys):
        raise ValueError(f"xs and ys must have the same length, got {len(xs)} and {len(ys)}")
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"edges must be at least two increasing numbers, got {list(edges)}")
    out = []
    for lo, hi in zip(edges, edges[1:]):
        v = [y for x, y in zip(xs, ys) if lo <= x < hi]
        if v:
            m, s = mean_std(v)
            out.append({"lo": lo, "hi": hi, "n": len(v), "mean": m, "sem": s / math.sqrt(len(v)) if len(v) > 1
                        else float("nan")})
    return out


def correlation(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Pearson correlation of two equally long sequences (nan when one is constant)."""
    xs, ys = [float(x) for x in xs], [float(y) for y in ys]
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError(f"xs and ys must have the same length >= 2, got {len(xs)} and {len(ys)}")
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx, syy = sum((x - mx) ** 2 for x in xs), sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else float("nan")


FINAL_KEYS = ("score", "gold", "kl", "length", "truncated_fraction", "rm_agreement")


def method_summary(comparison: dict) -> dict:
    """Per method of ``assets/rlhf_method_comparison.json``, the held-out final values as [mean, std] over seeds
    (``FINAL_KEYS``, ``truncated_fraction`` being the fraction of responses cut at N without EOS) and the wall time of one
    update (one DPO step; for best-of-n, of sampling n per prompt for the 128 prompts); best-of-n per n."""
    out = {}
    for method in ("ppo", "grpo", "rloo"):
        runs = runs_of(comparison["runs"], method=method)
        if runs:
            out[method] = {k: list(mean_std([r["final"][k] for r in runs])) for k in FINAL_KEYS}
            out[method].update(update_s=list(mean_std([r["update_s"] for r in runs])), seeds=len(runs))
    if comparison.get("dpo_runs"):
        runs = comparison["dpo_runs"]
        out["dpo"] = {k: list(mean_std([r["final"][k] for r in runs])) for k in FINAL_KEYS}
        out["dpo"].update(update_s=list(mean_std([r["step_s"] for r in runs])), seeds=len(runs))
    for n in sorted({b["n"] for b in comparison.get("best_of_n", [])}):
        rows = [b for b in comparison["best_of_n"] if b["n"] == n]
        out[f"best_of_{n}"] = {k: list(mean_std([b[k] for b in rows])) for k in FINAL_KEYS}
        out[f"best_of_{n}"].update(update_s=list(mean_std([b["wall_s"] for b in rows])), seeds=len(rows))
    return out


__all__ += ["binned_means", "correlation", "FINAL_KEYS", "method_summary"]
