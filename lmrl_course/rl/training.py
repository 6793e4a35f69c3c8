"""Bookkeeping shared by the training loops: the ``history`` dict, the "solved" rule, progress bars.

A ``history`` is a plain dict (easy to plot, pickle, or turn into a DataFrame):

* per update (lists of equal length): ``env_steps``, ``wall_time``, ``sps``, ``mean_return`` (last
  ``solved_window`` episodes) and each algorithm's diagnostics (``approx_kl``, ``entropy``, ...);
* per finished episode: ``episode_returns``, ``episode_lengths``, ``episode_env_steps``,
  ``episode_wall_time``;
* ``solved_at_env_steps`` / ``solved_at_wall_time``: the env step (and seconds) at which the mean
  return of the last ``solved_window`` episodes first reached ``solved_threshold`` (None if never);
* ``algo``, ``env_id``, ``seed``, ``config`` (the config as a dict).

Env steps count real transitions only (autoreset steps excluded; see :mod:`lmrl_course.rl.rollout`).
"""
from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Dict, Mapping, Optional

from lmrl_course.rl.rollout import EpisodeStats

__all__ = ["config_for_env", "resolve_config", "env_name", "new_history", "record_update", "attach_episodes", "solved_step", "make_progress", "end_of_update",
           "finish_training"]


def env_name(env_id) -> str:
    """``"CartPole-v1"`` for a Gymnasium id, the ``__name__`` of an environment factory otherwise."""
    return env_id if isinstance(env_id, str) else getattr(env_id, "__name__", str(env_id))


def config_for_env(cls, env_defaults: Mapping[str, Mapping[str, Any]], env_id, overrides: Mapping[str, Any]):
    """``cls(**env_defaults[env_id], **overrides)``: a trainer's documented setting for one environment.

    This is what each config's ``for_env`` (``PPOConfig``, ``TRPOConfig``, ``ReinforceConfig``) does with
    its module's ``ENV_DEFAULTS`` table (threshold and budget included). An environment the table does
    not list (another Gymnasium id, or an environment factory) gets the dataclass defaults, which are the
    CartPole-v1 setting, and a ``UserWarning`` that says so: a threshold of 475 means nothing elsewhere.
    An override that is not a field of ``cls`` is a ``TypeError`` naming the fields.
    """
    if not (isinstance(env_id, str) or callable(env_id)):
        raise TypeError(f"env_id must be a Gymnasium id (str) or an environment factory, got {type(env_id).__name__}")
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {unknown}; its fields are {sorted(fields)}")
    if isinstance(env_id, str) and env_id in env_defaults:
        settings = dict(env_defaults[env_id])
    else:
        settings = {}
        warnings.warn(f"{cls.__name__} has no documented defaults for {env_name(env_id)!r} (it has them for "
                      f"{', '.join(env_defaults)}): using {cls.__name__}(), the CartPole-v1 setting "
                      f"(solved_threshold 475, its budget), with your overrides", UserWarning, stacklevel=3)
    settings.update(overrides)
    return cls(**settings)


def resolve_config(cfg, cls, env_id):
    """The config a trainer runs: ``cls.for_env(env_id)`` when ``cfg`` is None, ``cfg`` itself when it is a
    ``cls``; anything else is a ``TypeError``."""
    if cfg is None:
        return cls.for_env(env_id)
    if not isinstance(cfg, cls):
        raise TypeError(f"cfg must be a {cls.__name__} or None (None: {cls.__name__}.for_env(env_id)), "
                        f"got {type(cfg).__name__}")
    return cfg


def new_history(algo: str, env_id, cfg, seed: int) -> Dict[str, Any]:
    return {"algo": algo, "env_id": env_name(env_id),
            "seed": seed, "config": dataclasses.asdict(cfg), "solved_at_env_steps": None, "solved_at_wall_time": None}


def record_update(history: Dict[str, Any], **scalars) -> None:
    for k, v in scalars.items():
        history.setdefault(k, []).append(float(v) if v is not None else float("nan"))


def solved_step(stats: EpisodeStats, threshold: float, window: int) -> Optional[int]:
    """Index of the episode at which the task counts as solved, or None."""
    return stats.solved_index(threshold, window)


def attach_episodes(history: Dict[str, Any], stats: EpisodeStats, threshold: float, window: int) -> Dict[str, Any]:
    history["episode_returns"] = list(stats.returns)
    history["episode_lengths"] = list(stats.lengths)
    history["episode_env_steps"] = list(stats.env_steps)
    history["episode_wall_time"] = list(stats.wall_time)
    idx = stats.solved_index(threshold, window)
    history["solved_at_env_steps"] = None if idx is None else int(stats.env_steps[idx])
    history["solved_at_wall_time"] = None if idx is None else float(stats.wall_time[idx])
    return history


def make_progress(enabled: bool, total: int, desc: str):
    """A tqdm bar over env steps (``tqdm.auto``: a widget in notebooks), or None."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step")


def end_of_update(history: Dict[str, Any], collector, cfg, bar, steps_before: int, stop_when_solved: bool,
                  callback) -> bool:
    """After one update: advance the progress bar, call ``callback(history)``; True when solved and
    ``stop_when_solved`` (mean return of the last ``cfg.solved_window`` episodes ≥ ``cfg.solved_threshold``)."""
    if bar is not None:
        bar.update(collector.env_steps - steps_before)
        bar.set_postfix(ret=f"{collector.stats.mean_last(cfg.solved_window):.1f}")
    solved = stop_when_solved and collector.stats.solved_index(cfg.solved_threshold, cfg.solved_window) is not None
    if callback is not None:
        callback(history)
    return solved


def finish_training(history: Dict[str, Any], collector, envs, cfg, bar, policy, value_fn) -> Dict[str, Any]:
    """Close the bar and the envs, attach the per-episode statistics and the trained networks."""
    if bar is not None:
        bar.close()
    envs.close()
    attach_episodes(history, collector.stats, cfg.solved_threshold, cfg.solved_window)
    history["policy"], history["value_fn"] = policy, value_fn
    return history
