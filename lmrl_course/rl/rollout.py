"""Collecting experience from a vector of environments, with Gymnasium 1.x autoreset made explicit.

Gymnasium 1.x vector environments reset a finished sub-environment **on the next step** by default
(``AutoresetMode.NEXT_STEP``). For one environment ``i`` of the vector, an episode that ends at step
``t`` looks like this::

    step t     : obs_{t+1} = the TRUE FINAL observation,  reward r_t,  terminated or truncated = True
    step t + 1 : the action is IGNORED, the env is reset:
                 returns the RESET observation, reward 0, terminated = truncated = False

So step ``t+1`` is not an environment transition at all. If we trained on it, the policy would be
credited (reward 0) for an action that did nothing, and the value of the final state would be
regressed towards 0 + γ·V(reset state). We therefore

1. keep a ``valid`` mask: ``valid[t+1, i] = False`` exactly when ``done[t, i]``; invalid steps are
   dropped by :meth:`Rollout.flatten` before any loss is computed and do not count as env steps;
2. use the observation returned *on the done step* (the true final observation) to bootstrap a
   truncated episode: ``returns_t = r_t + γ·V(s_final)``. In the stored layout that observation is
   exactly ``obs[t+1, i]`` (what the policy "sees" on the ignored step), so ``values[t+1, i]`` is
   V(s_final) and :func:`lmrl_course.rl.returns.gae` can take ``next_values[t] = values[t+1]``
   (``last_value`` after the last step). A terminated step bootstraps nothing.

Episode statistics (undiscounted return and length of every finished episode, and the env step /
wall time at which it finished) are accumulated here too, from valid steps only.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn

from lmrl_course.device import get_device
from lmrl_course.rl.returns import gae

__all__ = ["Rollout", "EpisodeStats", "RolloutCollector", "Episode", "EpisodeCollector"]


@dataclass
class Rollout:
    """``N`` steps of ``B`` environments, time first. ``valid`` marks the real transitions.

    Shapes: ``obs (N, B, obs_dim)``, ``actions (N, B)`` (Discrete) or ``(N, B, act_dim)`` (Box),
    ``logp, values, rewards (N, B)`` float, ``terminated, truncated, valid (N, B)`` bool,
    ``last_value (B,)`` = V(observation after the last step).
    """

    obs: torch.Tensor
    actions: torch.Tensor
    logp: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    valid: torch.Tensor
    last_value: torch.Tensor

    @property
    def num_steps(self) -> int:
        return self.rewards.shape[0]

    @property
    def num_envs(self) -> int:
        return self.rewards.shape[1]

    @property
    def num_valid(self) -> int:
        return int(self.valid.sum())

    def advantages_and_returns(self, gamma: float, gae_lambda: float, truncation_as_termination: bool = False):
        """``(advantages, returns)`` of shape ``(N, B)`` by :func:`~lmrl_course.rl.returns.gae`.

        ``truncation_as_termination=True`` reproduces the common bug of treating a time-limit cut as
        a terminal state (no bootstrap), for comparison. The cut at the end of the rollout is
        always bootstrapped with ``last_value``.
        """
        terminated, truncated = self.terminated, self.truncated
        if truncation_as_termination:
            terminated, truncated = terminated | truncated, torch.zeros_like(truncated)
        return gae(self.rewards, self.values, terminated, truncated, last_value=self.last_value,
                   gamma=gamma, gae_lambda=gae_lambda)

    def flatten(self, **per_step: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Merge time and env axes and keep only valid steps: every tensor becomes ``(M, ...)``.

        Returns ``obs, actions, logp, values`` plus any extra ``(N, B, ...)`` tensors passed by
        keyword (e.g. ``advantages=..., returns=...``). ``M = valid.sum()``.
        """
        mask = self.valid.reshape(-1)
        out = {"obs": self.obs, "actions": self.actions, "logp": self.logp, "values": self.values, **per_step}
        flat = {}
        for name, x in out.items():
            if x.shape[:2] != self.valid.shape:
                raise ValueError(f"{name} must start with the rollout's (N, B) = {tuple(self.valid.shape)}, "
                                 f"got shape {tuple(x.shape)}")
            flat[name] = x.reshape(-1, *x.shape[2:])[mask]
        return flat


@dataclass
class EpisodeStats:
    """Undiscounted return, length, and finishing env step / wall time of every finished episode."""

    returns: List[float] = field(default_factory=list)
    lengths: List[int] = field(default_factory=list)
    env_steps: List[int] = field(default_factory=list)
    wall_time: List[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.returns)

    def mean_last(self, window: int = 20) -> float:
        """Mean return of the last ``window`` episodes (NaN before any episode finished)."""
        if not self.returns:
            return float("nan")
        return float(np.mean(self.returns[-window:]))

    def solved_index(self, threshold: float = 475.0, window: int = 20) -> Optional[int]:
        """Index of the first episode at which the mean of the last ``window`` returns ≥ ``threshold``."""
        r = np.asarray(self.returns, dtype=np.float64)
        if len(r) < window:
            return None
        means = np.convolve(r, np.ones(window) / window, mode="valid")  # means[j] = mean(r[j : j+window])
        hits = np.nonzero(means >= threshold)[0]
        return int(hits[0]) + window - 1 if len(hits) else None


class RolloutCollector:
    """Steps a vector env with a policy and hands back :class:`Rollout` objects.

    The collector owns the environments' state between calls: the current observation, which
    environments finished on the previous step (so the next step is an autoreset step), and the
    running return / length of the unfinished episodes.

    Args:
        envs: a ``SyncVectorEnv`` in next-step autoreset mode (see :func:`~lmrl_course.rl.envs.make_vector_env`).
        policy: a module with ``.distribution(obs)``.
        value_fn: a module mapping ``(B, obs_dim)`` to ``(B,)``, or None (values are zeros).
        device: where the tensors are created; default :func:`lmrl_course.device.get_device`.
        seed: passed to ``envs.reset(seed=seed)`` (env ``i`` gets ``seed + i``).
    """

    def __init__(self, envs: gym.vector.VectorEnv, policy: nn.Module, value_fn: Optional[nn.Module] = None,
                 device=None, seed: Optional[int] = None):
        mode = envs.metadata.get("autoreset_mode", None)
        if mode is not None and mode != gym.vector.AutoresetMode.NEXT_STEP:
            raise ValueError(f"RolloutCollector expects next-step autoreset (Gymnasium's default), got {mode}")
        if not hasattr(policy, "distribution"):
            raise TypeError("policy must have a .distribution(obs) method (CategoricalPolicy or GaussianPolicy)")
        self.envs, self.policy, self.value_fn = envs, policy, value_fn
        self.device = get_device(device)
        self.num_envs = envs.num_envs
        self.action_space = envs.single_action_space
        self.discrete = isinstance(self.action_space, gym.spaces.Discrete)
        obs, _ = envs.reset(seed=seed)
        self.next_obs = obs
        self.prev_done = np.zeros(self.num_envs, dtype=bool)   # the NEXT step is an autoreset step
        self.ep_return = np.zeros(self.num_envs, dtype=np.float64)
        self.ep_length = np.zeros(self.num_envs, dtype=np.int64)
        self.env_steps = 0           # real (valid) transitions so far, summed over environments
        self.stats = EpisodeStats()
        self.start_time = time.perf_counter()

    def _to_env_action(self, action: torch.Tensor) -> np.ndarray:
        a = action.cpu().numpy()
        if self.discrete:
            return a.astype(np.int64)
        return np.clip(a, self.action_space.low, self.action_space.high).astype(self.action_space.dtype)

    @torch.no_grad()
    def collect(self, num_steps: int) -> Rollout:
        """Step all environments ``num_steps`` times with actions sampled from the policy."""
        if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
            raise ValueError(f"num_steps must be a positive int, got {num_steps!r}")
        N, B, dev = num_steps, self.num_envs, self.device
        obs_buf, act_buf, logp_buf, val_buf = [], [], [], []
        rew_buf = torch.zeros(N, B, device=dev)
        term_buf = torch.zeros(N, B, dtype=torch.bool, device=dev)
        trunc_buf = torch.zeros(N, B, dtype=torch.bool, device=dev)
        valid_buf = torch.zeros(N, B, dtype=torch.bool, device=dev)
        for t in range(N):
            obs = torch.as_tensor(self.next_obs, dtype=torch.float32, device=dev)           # (B, obs_dim)
            dist = self.policy.distribution(obs)
            action = dist.sample()                                                           # (B,) / (B, act_dim)
            obs_buf.append(obs)
            act_buf.append(action)
            logp_buf.append(dist.log_prob(action))                                          # (B,)
            val_buf.append(self.value_fn(obs) if self.value_fn is not None else torch.zeros(B, device=dev))
            valid = ~self.prev_done              # an env that finished last step is being reset now
            next_obs, reward, terminated, truncated, _ = self.envs.step(self._to_env_action(action))
            done = np.logical_or(terminated, truncated)
            # On an autoreset step Gymnasium already returns reward 0 and done False; masking keeps it explicit.
            reward = np.where(valid, reward, 0.0)
            done = done & valid
            rew_buf[t] = torch.as_tensor(reward, dtype=torch.float32, device=dev)
            term_buf[t] = torch.as_tensor(terminated & valid, device=dev)
            trunc_buf[t] = torch.as_tensor(truncated & valid, device=dev)
            valid_buf[t] = torch.as_tensor(valid, device=dev)
            # episode statistics, from real transitions only
            self.env_steps += int(valid.sum())
            self.ep_return += reward
            self.ep_length += valid
            for i in np.nonzero(done)[0]:
                self.stats.returns.append(float(self.ep_return[i]))
                self.stats.lengths.append(int(self.ep_length[i]))
                self.stats.env_steps.append(self.env_steps)
                self.stats.wall_time.append(time.perf_counter() - self.start_time)
                self.ep_return[i], self.ep_length[i] = 0.0, 0
            self.prev_done = done
            self.next_obs = next_obs   # on a done step: the TRUE final observation (reset comes next step)
        last_obs = torch.as_tensor(self.next_obs, dtype=torch.float32, device=dev)
        last_value = self.value_fn(last_obs) if self.value_fn is not None else torch.zeros(B, device=dev)
        return Rollout(obs=torch.stack(obs_buf), actions=torch.stack(act_buf), logp=torch.stack(logp_buf),
                       values=torch.stack(val_buf), rewards=rew_buf, terminated=term_buf, truncated=trunc_buf,
                       valid=valid_buf, last_value=last_value)


@dataclass
class Episode:
    """One complete episode, collected with a single policy.

    Shapes: ``obs (T, obs_dim)``, ``actions (T,)`` (Discrete) or ``(T, act_dim)`` (Box), ``rewards (T,)``,
    ``final_obs (obs_dim,)`` = the observation the last step led to. Exactly one of ``terminated`` /
    ``truncated`` is True: how the episode ended.
    """

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    final_obs: torch.Tensor
    terminated: bool
    truncated: bool

    def __len__(self) -> int:
        return self.rewards.shape[0]


class EpisodeCollector:
    """Collects **whole episodes** from ``num_envs`` environments stepped side by side (for REINFORCE).

    ``collect(min_steps)`` starts episodes until at least ``min_steps`` transitions have been taken in
    this call, then finishes every episode it started and stops that environment: every episode
    it returns was started and ended under the same policy, and none is cut short. (Stopping only
    *starts* of new episodes, never an episode in progress, keeps long episodes from being under- or
    over-represented.) So a Monte-Carlo return needs no bootstrap except where the environment's own time
    limit truncated an episode.

    The environments are plain ``gym.Env`` objects (no vector env, no autoreset step): environment ``i``
    is reset with ``seed + i`` on the first call, then continues its own random stream. Same interface
    for the training loops as :class:`RolloutCollector`: ``env_steps``, ``stats``, ``close()``.

    Args:
        env_id: a registered id or a zero-argument callable returning an env.
        num_envs: B, environments stepped side by side (one batched forward pass per step).
        policy: a module with ``.distribution(obs)``.
        device, seed: as for :class:`RolloutCollector`.
    """

    def __init__(self, env_id, num_envs: int, policy: nn.Module, device=None, seed: Optional[int] = None):
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
        if not hasattr(policy, "distribution"):
            raise TypeError("policy must have a .distribution(obs) method (CategoricalPolicy or GaussianPolicy)")
        if isinstance(env_id, str):
            self.envs = [gym.make(env_id) for _ in range(num_envs)]
        elif callable(env_id):
            self.envs = [env_id() for _ in range(num_envs)]
        else:
            raise TypeError(f"env_id must be a registered id (str) or a callable returning an env, got {type(env_id).__name__}")
        self.policy, self.device, self.seed = policy, get_device(device), seed
        self.num_envs = num_envs
        self.single_observation_space = self.envs[0].observation_space
        self.single_action_space = self.envs[0].action_space
        self.discrete = isinstance(self.single_action_space, gym.spaces.Discrete)
        self._first_reset = True
        self.env_steps = 0
        self.stats = EpisodeStats()
        self.start_time = time.perf_counter()

    def _reset(self, i: int) -> np.ndarray:
        seed = None if (self.seed is None or not self._first_reset) else self.seed + i
        obs, _ = self.envs[i].reset(seed=seed)
        return obs

    def _to_env_action(self, a: np.ndarray):
        if self.discrete:
            return int(a)
        space = self.single_action_space
        return np.clip(a, space.low, space.high).astype(space.dtype)

    @torch.no_grad()
    def collect(self, min_steps: int) -> List[Episode]:
        """Whole episodes totalling at least ``min_steps`` transitions (sampled actions, current policy)."""
        if isinstance(min_steps, bool) or not isinstance(min_steps, int) or min_steps < 1:
            raise ValueError(f"min_steps must be a positive int, got {min_steps!r}")
        B, dev = self.num_envs, self.device
        current = [self._reset(i) for i in range(B)]
        self._first_reset = False
        buffers = [([], [], []) for _ in range(B)]           # per env: obs, actions, rewards of the running episode
        active = list(range(B))
        episodes: List[Episode] = []
        taken = 0
        while active:
            obs = torch.as_tensor(np.stack([current[i] for i in active]), dtype=torch.float32, device=dev)  # (b, obs_dim)
            actions = self.policy.distribution(obs).sample()                                                # (b,) / (b, act_dim)
            actions_np = actions.cpu().numpy()
            still = []
            for k, i in enumerate(active):
                next_obs, reward, terminated, truncated, _ = self.envs[i].step(self._to_env_action(actions_np[k]))
                o, a, r = buffers[i]
                o.append(obs[k]); a.append(actions[k]); r.append(float(reward))
                taken += 1
                self.env_steps += 1
                if terminated or truncated:
                    ep = Episode(obs=torch.stack(o), actions=torch.stack(a),
                                 rewards=torch.tensor(r, dtype=torch.float32, device=dev),
                                 final_obs=torch.as_tensor(next_obs, dtype=torch.float32, device=dev),
                                 terminated=bool(terminated), truncated=not terminated)
                    episodes.append(ep)
                    self.stats.returns.append(float(sum(r)))
                    self.stats.lengths.append(len(r))
                    self.stats.env_steps.append(self.env_steps)
                    self.stats.wall_time.append(time.perf_counter() - self.start_time)
                    buffers[i] = ([], [], [])
                    if taken < min_steps:           # start another episode here; else this env is done
                        current[i] = self._reset(i)
                        still.append(i)
                else:
                    current[i] = next_obs
                    still.append(i)
            active = still
        return episodes

    def close(self) -> None:
        for env in self.envs:
            env.close()
