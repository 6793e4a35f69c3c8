"""REINFORCE (Williams, 1992) with reward-to-go, a learned value baseline and an entropy bonus.

The policy-gradient theorem with a baseline b(s):

    ∇_θ J(θ) = E_τ~π_θ [ Σ_t ∇_θ log π_θ(a_t|s_t) · (G_t − b(s_t)) ]

Pseudocode (numbers appear as comments in :func:`train_reinforce`)::

    1  for update = 1, 2, ...:
    2      collect N steps from each of B envs with π_θ      -> obs, action, logp, reward, terminated, truncated
    3      G_t = reward-to-go  (Monte-Carlo; bootstrapped with γ·V(s) only where an episode was cut:
                                a time-limit truncation or the end of the rollout)
    4      Â_t = G_t − V_φ(s_t)            (normalised over the batch)
    5      one gradient step on  −mean(logp · Â) − ent_coef · entropy
    6      vf_epochs passes of minibatch regression of V_φ(s_t) onto G_t
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn

from lmrl_course.device import get_device, seed_everything
from lmrl_course.rl.envs import make_vector_env
from lmrl_course.rl.policies import ValueNetwork, make_policy
from lmrl_course.rl.ppo import explained_variance, masked_mean
from lmrl_course.rl.returns import normalize_advantages
from lmrl_course.rl.rollout import RolloutCollector
from lmrl_course.rl.training import make_progress, new_history, record_update, end_of_update, finish_training
from lmrl_course.validation import require_in_range, require_same_shape, require_tensor

__all__ = ["reinforce_loss", "ReinforceConfig", "train_reinforce"]


def reinforce_loss(logp: torch.Tensor, advantages: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The score-function ("REINFORCE") surrogate loss:  L(θ) = −mean_t[ log π_θ(a_t|s_t) · Â_t ].

    Only its **gradient** means something: ∇_θ L = −mean_t[∇_θ log π_θ(a_t|s_t) · Â_t] is an
    unbiased estimate of −∇_θ J(θ). Its *value* is not the (negative) expected return, is not
    comparable between updates (the samples and Â change every batch), and can rise while the policy
    improves: e.g. as the policy becomes confident, log π → 0 and the loss → 0 whatever the return.
    So plot episode returns, never this loss. ``advantages`` is treated as a constant (detached):
    the gradient must not flow into the baseline.

    Args:
        logp: log π_θ(a|s) with gradient, any shape; advantages: Â, same shape; mask: optional.
    """
    require_tensor(logp, "logp", kind="float")
    require_tensor(advantages, "advantages", kind="float")
    require_same_shape(logp, advantages, "logp", "advantages")
    return -masked_mean(logp * advantages.detach(), mask)


@dataclass
class ReinforceConfig:
    """REINFORCE hyper-parameters; the defaults solve CartPole-v1 (see ``bench/bench_cartpole.py``)."""

    total_timesteps: int = 200_000   # budget of real env steps
    num_envs: int = 4                # B: environments per batch
    num_steps: int = 256             # N: steps per env per batch (an update uses B·N samples)
    lr: float = 5e-3                 # Adam learning rate of the policy (one step per batch)
    gamma: float = 0.99              # γ: discount of the reward-to-go
    baseline: bool = True            # subtract a learned V_φ(s) from G_t (False: Â = G_t)
    vf_lr: float = 1e-3              # Adam learning rate of the value network
    vf_epochs: int = 5               # passes over the batch fitting V_φ to G_t
    vf_minibatches: int = 8          # minibatches per value-function pass
    norm_adv: bool = True            # normalise Â over the batch
    ent_coef: float = 0.0            # weight of the entropy bonus
    max_grad_norm: Optional[float] = 0.5   # global gradient-norm clip of the policy (None = off)
    hidden: Tuple[int, ...] = (64, 64)
    ortho_init: bool = True
    truncation_as_termination: bool = False  # the bug, for comparison: time limit treated as terminal
    solved_threshold: float = 475.0
    solved_window: int = 20

    def __post_init__(self):
        for name in ("total_timesteps", "num_envs", "num_steps", "vf_epochs", "vf_minibatches", "solved_window"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"ReinforceConfig.{name} must be a positive int, got {v!r}")
        require_in_range(self.lr, "ReinforceConfig.lr", 0.0, None, low_inclusive=False)
        require_in_range(self.vf_lr, "ReinforceConfig.vf_lr", 0.0, None, low_inclusive=False)
        require_in_range(self.gamma, "ReinforceConfig.gamma", 0.0, 1.0)
        require_in_range(self.ent_coef, "ReinforceConfig.ent_coef", 0.0, None)


def train_reinforce(env_id="CartPole-v1", cfg: Optional[ReinforceConfig] = None, device=None, seed: int = 0,
                    stop_when_solved: bool = False, progress: bool = False,
                    callback: Optional[Callable[[Dict], None]] = None) -> Dict:
    """Train a policy with REINFORCE (+ value baseline) on ``env_id``; returns a history dict.

    Per update it logs ``policy_loss`` (meaningless value, see :func:`reinforce_loss`), ``entropy``,
    ``value_loss``, ``explained_variance``, ``grad_norm`` and the usual env steps / wall time / SPS.
    ``history["policy"]`` and ``history["value_fn"]`` are the trained modules.
    """
    cfg = ReinforceConfig() if cfg is None else cfg
    if not isinstance(cfg, ReinforceConfig):
        raise TypeError(f"cfg must be a ReinforceConfig, got {type(cfg).__name__}")
    dev = get_device(device)
    seed_everything(seed)
    envs = make_vector_env(env_id, cfg.num_envs, seed=seed)
    policy = make_policy(envs.single_observation_space, envs.single_action_space, cfg.hidden, cfg.ortho_init).to(dev)
    value_fn = ValueNetwork(envs.single_observation_space.shape[0], cfg.hidden, ortho_init=cfg.ortho_init).to(dev)
    pi_opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    vf_opt = torch.optim.Adam(value_fn.parameters(), lr=cfg.vf_lr)
    collector = RolloutCollector(envs, policy, value_fn if cfg.baseline else None, device=dev, seed=seed)
    history = new_history("reinforce", env_id, cfg, seed)
    bar = make_progress(progress, cfg.total_timesteps, "REINFORCE")
    start = time.perf_counter()
    solved = False
    while collector.env_steps < cfg.total_timesteps and not solved:
        steps_before = collector.env_steps
        rollout = collector.collect(cfg.num_steps)                                          # 2
        # 3: λ = 1 GAE is exactly the Monte-Carlo reward-to-go (bootstrapped only at cuts), minus V.
        advantages, returns = rollout.advantages_and_returns(cfg.gamma, 1.0, cfg.truncation_as_termination)
        batch = rollout.flatten(advantages=advantages, returns=returns)
        adv = batch["advantages"]                                                           # 4: G_t − V(s_t)
        if cfg.norm_adv:
            adv = normalize_advantages(adv)
        dist = policy.distribution(batch["obs"])
        logp = dist.log_prob(batch["actions"])                                              # (M,)
        entropy = dist.entropy().mean()
        loss = reinforce_loss(logp, adv) - cfg.ent_coef * entropy                          # 5
        pi_opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.max_grad_norm is not None:
            grad_norm = nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
        else:
            grad_norm = torch.sqrt(sum((p.grad ** 2).sum() for p in policy.parameters()))
        pi_opt.step()
        v_losses = []
        if cfg.baseline:                                                                    # 6
            M = batch["returns"].shape[0]
            for _ in range(cfg.vf_epochs):
                for idx in torch.tensor_split(torch.randperm(M, device=dev), cfg.vf_minibatches):
                    if idx.numel() == 0:
                        continue
                    v_loss = 0.5 * ((value_fn(batch["obs"][idx]) - batch["returns"][idx]) ** 2).mean()
                    vf_opt.zero_grad(set_to_none=True)
                    v_loss.backward()
                    vf_opt.step()
                    v_losses.append(float(v_loss.detach()))
        elapsed = time.perf_counter() - start
        record_update(history, env_steps=collector.env_steps, wall_time=elapsed,
                      sps=collector.env_steps / max(elapsed, 1e-9), policy_loss=float(loss.detach()),
                      entropy=float(entropy.detach()), grad_norm=float(grad_norm),
                      value_loss=np.mean(v_losses) if v_losses else float("nan"),
                      explained_variance=explained_variance(batch["values"], batch["returns"]) if cfg.baseline else float("nan"),
                      mean_return=collector.stats.mean_last(cfg.solved_window))
        solved = end_of_update(history, collector, cfg, bar, steps_before, stop_when_solved, callback)
    return finish_training(history, collector, envs, cfg, bar, policy, value_fn)
