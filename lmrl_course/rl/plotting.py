"""Plotting learning curves: episode return against env steps or wall-clock time."""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence, Union

import numpy as np

__all__ = ["moving_average", "plot_learning_curves", "curves_on_grid", "plot_seed_band"]


def moving_average(x: Sequence[float], window: int = 20) -> np.ndarray:
    """Trailing mean with the same length as ``x``: ``out[i] = mean(x[max(0, i−window+1) : i+1])``.

    (The first ``window − 1`` entries average over fewer points, so the curve starts at the start.)
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be a positive int, got {window!r}")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D, got shape {x.shape}")
    if x.size == 0:
        return x
    c = np.cumsum(np.insert(x, 0, 0.0))
    idx = np.arange(1, len(x) + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)


def plot_learning_curves(histories: Union[Mapping[str, Dict], Sequence[Dict], Dict], x: str = "env_steps",
                         threshold: Optional[float] = 475.0, window: int = 20, ax=None, title: Optional[str] = None):
    """Plot the moving-average episode return of each history against ``x``.

    Args:
        histories: one history, a list of them (labelled ``algo seed``), or a dict label → history.
        x: ``"env_steps"`` or ``"wall_time"`` (seconds).
        threshold: draw a dashed "solved" line there (None: no line); a dot marks where each run solved.
        window: moving-average window in episodes.
        ax: a matplotlib Axes to draw on (default: a new figure).
    Returns the Axes.
    """
    import matplotlib.pyplot as plt

    if x not in ("env_steps", "wall_time"):
        raise ValueError(f"x must be 'env_steps' or 'wall_time', got {x!r}")
    if isinstance(histories, dict) and "episode_returns" in histories:
        histories = [histories]
    if isinstance(histories, Mapping):
        items = list(histories.items())
    else:
        items = [(f"{h.get('algo', 'run')} seed {h.get('seed', i)}", h) for i, h in enumerate(histories)]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    key = "episode_env_steps" if x == "env_steps" else "episode_wall_time"
    for label, h in items:
        if "episode_returns" not in h:
            raise ValueError(f"history {label!r} has no 'episode_returns' (was it produced by a train_* function?)")
        xs = np.asarray(h[key])
        line, = ax.plot(xs, moving_average(h["episode_returns"], window), label=label)
        solved = h.get("solved_at_env_steps" if x == "env_steps" else "solved_at_wall_time")
        if solved is not None and threshold is not None:
            ax.plot([solved], [threshold], "o", color=line.get_color())
    if threshold is not None:
        ax.axhline(threshold, color="gray", linestyle="--", linewidth=1, label=f"solved ({threshold:g})")
    ax.set_xlabel("environment steps" if x == "env_steps" else "wall time (s)")
    ax.set_ylabel(f"episode return ({window}-episode moving average)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def curves_on_grid(runs: Sequence[Mapping], x: str = "env_steps", y: str = "mean_return", points: int = 200):
    """Interpolate several runs' curves ``run[y]`` against ``run[x]`` onto one grid.

    The grid goes from the *latest* run's first ``x`` to the *shortest* run's last ``x``: no run is
    extrapolated before its first point or past its last (``np.interp`` would hold the end values flat,
    e.g. draw a run as if its first episode's return had held from step 0).
    Returns ``(grid (points,), curves (runs, points))``.
    """
    if len(runs) == 0:
        raise ValueError("runs is empty: need at least one run with curves to plot")
    for r in runs:
        if x not in r or y not in r:
            raise ValueError(f"every run needs {x!r} and {y!r} lists, got keys {sorted(r)}")
    start = max(r[x][0] for r in runs)
    end = min(r[x][-1] for r in runs)
    if start > end:
        raise ValueError(f"the runs' {x!r} ranges do not overlap: latest start {start} > earliest end {end}")
    grid = np.linspace(float(start), float(end), points)
    return grid, np.array([np.interp(grid, r[x], r[y]) for r in runs])


def plot_seed_band(runs: Sequence[Mapping], ax, label: str, color=None, x: str = "env_steps", y: str = "mean_return",
                   center: str = "median", x_scale: float = 1.0, points: int = 200):
    """One line per group of seeds: the median (or mean) of the runs' curves, and their min-max band.

    ``runs`` are dicts with ``x`` and ``y`` lists (e.g. the records of an ``assets/*.json`` file); the
    x values are multiplied by ``x_scale`` for display. Returns ``(grid, curves)`` of :func:`curves_on_grid`.
    """
    if center not in ("median", "mean"):
        raise ValueError(f"center must be 'median' or 'mean', got {center!r}")
    grid, curves = curves_on_grid(runs, x, y, points)
    mid = np.median(curves, 0) if center == "median" else curves.mean(0)
    line, = ax.plot(grid * x_scale, mid, color=color, label=f"{label} ({center} of {len(runs)} seeds, range)")
    ax.fill_between(grid * x_scale, curves.min(0), curves.max(0), color=line.get_color(), alpha=0.2)
    return grid, curves
