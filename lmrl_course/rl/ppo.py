"""Proximal Policy Optimisation (Schulman et al., 2017), clipped-surrogate version, in one file.

The loss pieces are small pure functions (tensors in, tensors out, optional ``mask`` for padded
token sequences) so that the language-model PPO/GRPO of :mod:`lmrl_course.rlhf` reuses them as is.

Pseudocode (the numbers appear as comments in :func:`train_ppo`)::

    1  for update = 1, 2, ...:
    2      (anneal the learning rate linearly to 0)
    3      collect N steps from each of B envs with π_θold         -> obs, action, logp_old, value, reward
    4      compute advantages Â by GAE(γ, λ) and returns = Â + V     (truncation-aware)
    5      for epoch = 1 .. update_epochs:
    6          for each minibatch of the B·N valid samples:
    7              ratio = exp(logp_new − logp_old)
    8              (normalise Â within the minibatch)
    9              L_clip  = −mean(min(ratio·Â, clip(ratio, 1−ε, 1+ε)·Â))
   10              L_value = ½·mean((V_φ(s) − returns)²)              (optionally clipped)
   11              loss = L_clip − ent_coef·entropy + vf_coef·L_value
   12              one Adam step on θ and φ, gradient norm clipped to max_grad_norm
   13          stop the epochs early if approx KL > target_kl
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
from lmrl_course.rl.policies import ValueNetwork, add_obs_normalizer, make_policy
from lmrl_course.rl.returns import normalize_advantages
from lmrl_course.rl.rollout import RolloutCollector
from lmrl_course.rl.training import (config_for_env, end_of_update, finish_training, make_progress, new_history,
                                     record_update, resolve_config)
from lmrl_course.validation import require_in_range, require_mask, require_same_shape, require_tensor

__all__ = ["masked_mean", "clipped_surrogate_loss", "value_loss", "approx_kl_k3", "clip_fraction",
           "explained_variance", "PPOConfig", "train_ppo"]


# ----------------------------------------------------------------------------------------------
# Loss functions (pure)
# ----------------------------------------------------------------------------------------------

def masked_mean(x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``mean(x)`` over all elements, or over those where ``mask`` is true: Σ mask·x / Σ mask.

    ``mask`` is bool or 0/1 (a 2 would count a sample twice: ``ValueError``, checked on the CPU)."""
    if mask is None:
        return x.mean()
    require_mask(mask, "mask")
    require_same_shape(mask, x, "mask", "x")
    m = mask.to(x.dtype)
    return (x * m).sum() / m.sum().clamp(min=1.0)


def _check_pair(logp_new, logp_old, name_new="logp_new", name_old="logp_old"):
    require_tensor(logp_new, name_new, kind="float")
    require_tensor(logp_old, name_old, kind="float")
    require_same_shape(logp_new, logp_old, name_new, name_old)


def clipped_surrogate_loss(logp_new: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor,
                           clip_coef: float = 0.2, mask: Optional[torch.Tensor] = None
                           ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """PPO's clipped surrogate objective, as a loss to minimise.

        ratio_t = π_θ(a_t|s_t) / π_θold(a_t|s_t) = exp(logp_new − logp_old)
        L_clip  = −mean_t[ min(ratio_t · Â_t,  clip(ratio_t, 1 − ε, 1 + ε) · Â_t) ]

    The min makes the objective a pessimistic bound: once the ratio has moved past 1 + ε (for
    Â > 0) or 1 − ε (for Â < 0), the clipped term is constant and its gradient is zero, so no single
    sample can pull the policy further than ε from π_θold in the direction its advantage favours.

    Args:
        logp_new: log π_θ(a|s), with gradient, any shape (``(M,)`` samples or ``(B, T)`` tokens).
        logp_old: log π_θold(a|s) from the rollout, same shape (gradient is not taken through it).
        advantages: Â, same shape.
        clip_coef: ε > 0.
        mask: optional bool/0-1 tensor, same shape; the mean is over masked-in elements.
    Returns:
        ``(loss, info)`` with info: ``ratio`` (detached), ``approx_kl`` (k3), ``clip_frac``.
    """
    _check_pair(logp_new, logp_old)
    require_tensor(advantages, "advantages", kind="float")
    require_same_shape(advantages, logp_new, "advantages", "logp_new")
    require_in_range(clip_coef, "clip_coef", 0.0, None, low_inclusive=False)
    log_ratio = logp_new - logp_old.detach()
    ratio = log_ratio.exp()
    advantages = advantages.detach()
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_coef, 1.0 + clip_coef) * advantages
    loss = -masked_mean(torch.min(unclipped, clipped), mask)
    with torch.no_grad():
        info = {"ratio": ratio.detach(),
                "approx_kl": approx_kl_k3(logp_new.detach(), logp_old.detach(), mask),
                "clip_frac": clip_fraction(ratio.detach(), clip_coef, mask)}
    return loss, info


def value_loss(values_new: torch.Tensor, returns: torch.Tensor, values_old: Optional[torch.Tensor] = None,
               clip_coef: Optional[float] = None, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Squared-error value loss, optionally clipped around the rollout's values.

        unclipped:  L_V = ½ · mean[(V_φ(s) − returns)²]
        clipped:    V_clip = V_old + clip(V_φ(s) − V_old, −ε, ε)
                    L_V = ½ · mean[max((V_φ(s) − returns)², (V_clip − returns)²)]

    Clipping is used when both ``values_old`` and ``clip_coef`` are given.
    """
    require_tensor(values_new, "values_new", kind="float")
    require_tensor(returns, "returns", kind="float")
    require_same_shape(values_new, returns, "values_new", "returns")
    returns = returns.detach()
    err = (values_new - returns) ** 2
    if values_old is not None and clip_coef is not None:
        require_same_shape(values_old, values_new, "values_old", "values_new")
        require_in_range(clip_coef, "clip_coef", 0.0, None, low_inclusive=False)
        values_old = values_old.detach()
        v_clipped = values_old + torch.clamp(values_new - values_old, -clip_coef, clip_coef)
        err = torch.max(err, (v_clipped - returns) ** 2)
    return 0.5 * masked_mean(err, mask)


def approx_kl_k3(logp_new: torch.Tensor, logp_old: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Estimate of KL(π_θold ‖ π_θ) from samples a ~ π_θold (Schulman's "k3" estimator).

        r = π_θ(a|s) / π_θold(a|s),       KL ≈ mean[(r − 1) − log r]

    Unbiased (E_old[r] = 1) and never negative, since x − 1 ≥ log x for every x > 0.
    """
    _check_pair(logp_new, logp_old)
    log_ratio = logp_new - logp_old
    return masked_mean(torch.expm1(log_ratio) - log_ratio, mask)


def clip_fraction(ratio: torch.Tensor, clip_coef: float, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Fraction of samples whose ratio lies outside [1 − ε, 1 + ε]: mean(|ratio − 1| > ε)."""
    require_tensor(ratio, "ratio", kind="float")
    require_in_range(clip_coef, "clip_coef", 0.0, None, low_inclusive=False)
    return masked_mean(((ratio - 1.0).abs() > clip_coef).to(ratio.dtype), mask)


def explained_variance(y_pred: torch.Tensor, y_true: torch.Tensor) -> float:
    """1 − Var[y_true − y_pred] / Var[y_true]: 1 = perfect, 0 = no better than a constant, < 0 worse.

    NaN when ``y_true`` is constant (the ratio is undefined).
    """
    require_tensor(y_pred, "y_pred", kind="float")
    require_tensor(y_true, "y_true", kind="float")
    require_same_shape(y_pred, y_true, "y_pred", "y_true")
    if y_true.numel() == 0:
        raise ValueError("y_true is empty: explained variance needs at least one sample")
    var_y = torch.var(y_true.detach(), correction=0)
    if var_y.item() == 0:
        return float("nan")
    return float(1.0 - torch.var((y_true - y_pred).detach(), correction=0) / var_y)


# ----------------------------------------------------------------------------------------------
# Configuration and training loop
# ----------------------------------------------------------------------------------------------

@dataclass
class PPOConfig:
    """PPO hyper-parameters. ``PPOConfig()`` is the CartPole-v1 setting; :meth:`for_env` gives the
    documented setting of each supported environment (``ENV_DEFAULTS``), used by ``train_ppo(cfg=None)``.

    Architecture: the actor (policy) and the critic (value network) are **separate** MLPs with
    ``hidden`` tanh layers, optimised by one Adam over both parameter sets.
    """

    total_timesteps: int = 150_000   # budget of real env steps (summed over envs)
    num_envs: int = 8                # B: environments stepped in lock-step
    num_steps: int = 64              # N: steps per env per rollout; B·N samples per update
    lr: float = 2.5e-3               # Adam learning rate (θ and φ)
    anneal_lr: bool = True           # decay lr linearly to 0 over total_timesteps
    gamma: float = 0.99              # γ: discount
    gae_lambda: float = 0.95         # λ: GAE bias/variance knob (1 = Monte-Carlo, 0 = TD(0))
    num_minibatches: int = 4         # each epoch splits the B·N samples into this many minibatches
    update_epochs: int = 10          # passes over the rollout per update
    norm_adv: bool = True            # normalise Â per minibatch (mean 0, std 1)
    clip_coef: float = 0.2           # ε: ratio clip range
    clip_vloss: bool = False         # clip the value loss around the rollout's values (with ε)
    ent_coef: float = 0.0            # weight of the entropy bonus
    vf_coef: float = 0.5             # weight of the value loss
    max_grad_norm: float = 0.5       # global gradient-norm clip
    target_kl: Optional[float] = None  # stop an update's epochs once approx KL exceeds this (None = never)
    hidden: Tuple[int, ...] = (64, 64)  # widths of the hidden layers of actor and critic
    ortho_init: bool = True          # orthogonal init (gain √2 hidden, 0.01 policy head, 1 value head)
    adam_eps: float = 1e-5           # Adam's ε (CleanRL's choice, smaller steps early on)
    reward_scale: float = 1.0        # multiply rewards by this before GAE (keeps value targets O(1), e.g.
                                     # 0.1 for Pendulum); logged episode returns stay unscaled
    norm_obs: bool = False           # normalise observations with running mean/std (updated after each update)
    truncation_as_termination: bool = False  # the bug, for comparison: no bootstrap at time limits
    solved_threshold: float = 475.0  # "solved" = mean return of the last solved_window episodes ≥ this
    solved_window: int = 20

    def __post_init__(self):
        for name in ("total_timesteps", "num_envs", "num_steps", "num_minibatches", "update_epochs", "solved_window"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"PPOConfig.{name} must be a positive int, got {v!r}")
        require_in_range(self.lr, "PPOConfig.lr", 0.0, None, low_inclusive=False)
        require_in_range(self.gamma, "PPOConfig.gamma", 0.0, 1.0)
        require_in_range(self.gae_lambda, "PPOConfig.gae_lambda", 0.0, 1.0)
        require_in_range(self.clip_coef, "PPOConfig.clip_coef", 0.0, None, low_inclusive=False)
        require_in_range(self.reward_scale, "PPOConfig.reward_scale", 0.0, None, low_inclusive=False)
        require_in_range(self.max_grad_norm, "PPOConfig.max_grad_norm", 0.0, None, low_inclusive=False)
        if self.target_kl is not None:
            require_in_range(self.target_kl, "PPOConfig.target_kl", 0.0, None, low_inclusive=False)

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @classmethod
    def for_env(cls, env_id, **overrides) -> "PPOConfig":
        """The documented setting for ``env_id`` (``ENV_DEFAULTS``: threshold and budget included), with
        ``overrides`` applied; an environment not listed gets ``PPOConfig()`` (the CartPole-v1 setting)
        and a warning (:func:`lmrl_course.rl.training.config_for_env`)."""
        return config_for_env(cls, ENV_DEFAULTS, env_id, overrides)

    @classmethod
    def pendulum(cls, **overrides) -> "PPOConfig":
        """``PPOConfig.for_env("Pendulum-v1")`` (kept for older code)."""
        return cls.for_env("Pendulum-v1", **overrides)


#: Per-environment settings of :func:`train_ppo`, what ``cfg=None`` uses. Tuned on seeds 0-13 only;
#: ``python -m lmrl_course.scripts.make_rl_defaults_table`` checks them on the held-out seeds 100-109.
#:
#: * CartPole-v1: the dataclass defaults.
#: * Acrobot-v1: the same, but rewards × 0.1. Acrobot pays −1 per step for up to 500 steps, so the
#:   value targets start near −1/(1−γ) = −100 and the critic's squared error (~40) dominates the one
#:   global gradient norm that is clipped to 0.5 over actor *and* critic: the policy's share of every
#:   step is tiny, it stays near the uniform random policy, which never reaches the goal, and some
#:   seeds stay at −500 (seeds 11-13 in notebook 07). Scaled rewards keep the critic's loss O(0.1).
#: * Pendulum-v1: longer rollouts (4 × 512), γ = 0.95 (the reward is immediate: a short horizon is
#:   enough and the value targets stay small), 32 minibatches of 64, lr 1e-3, rewards × 0.1.
ENV_DEFAULTS: Dict[str, Dict] = {
    "CartPole-v1": dict(),
    "Acrobot-v1": dict(reward_scale=0.1, solved_threshold=-100.0, total_timesteps=100_000),
    "Pendulum-v1": dict(total_timesteps=200_000, num_envs=4, num_steps=512, lr=1e-3, gamma=0.95, num_minibatches=32,
                        reward_scale=0.1, solved_threshold=-200.0),
}


def train_ppo(env_id="CartPole-v1", cfg: Optional[PPOConfig] = None, device=None, seed: int = 0,
              stop_when_solved: bool = False, progress: bool = False,
              callback: Optional[Callable[[Dict], None]] = None) -> Dict:
    """Train a policy with PPO on ``env_id`` (Discrete → CategoricalPolicy, Box → GaussianPolicy).

    Same ``seed`` and device → identical history (apart from times). ``stop_when_solved`` ends
    training at the first update after which the mean return of the last ``cfg.solved_window``
    episodes reaches ``cfg.solved_threshold``. Returns a history dict (see
    :mod:`lmrl_course.rl.training`) plus ``policy`` and ``value_fn`` (the trained modules).
    ``callback(history)`` is called after every update. ``cfg=None`` uses ``PPOConfig.for_env(env_id)``.
    """
    cfg = resolve_config(cfg, PPOConfig, env_id)
    dev = get_device(device)
    seed_everything(seed)
    envs = make_vector_env(env_id, cfg.num_envs, seed=seed)
    policy = make_policy(envs.single_observation_space, envs.single_action_space, cfg.hidden, cfg.ortho_init).to(dev)
    value_fn = ValueNetwork(envs.single_observation_space.shape[0], cfg.hidden, ortho_init=cfg.ortho_init).to(dev)
    obs_norm = add_obs_normalizer(policy, value_fn).to(dev) if cfg.norm_obs else None
    params = list(policy.parameters()) + list(value_fn.parameters())
    optimizer = torch.optim.Adam(params, lr=cfg.lr, eps=cfg.adam_eps)
    collector = RolloutCollector(envs, policy, value_fn, device=dev, seed=seed)
    history = new_history("ppo", env_id, cfg, seed)
    bar = make_progress(progress, cfg.total_timesteps, "PPO")
    start = time.perf_counter()
    solved = False
    while collector.env_steps < cfg.total_timesteps and not solved:
        # 2: learning-rate annealing
        frac = 1.0 - collector.env_steps / cfg.total_timesteps
        lr_now = cfg.lr * frac if cfg.anneal_lr else cfg.lr
        for group in optimizer.param_groups:
            group["lr"] = lr_now
        # 3: rollout with the current (soon "old") policy
        steps_before = collector.env_steps
        rollout = collector.collect(cfg.num_steps)
        if cfg.reward_scale != 1.0:
            rollout.rewards = rollout.rewards * cfg.reward_scale
        # 4: advantages and value targets
        advantages, returns = rollout.advantages_and_returns(cfg.gamma, cfg.gae_lambda, cfg.truncation_as_termination)
        batch = rollout.flatten(advantages=advantages, returns=returns)
        M = batch["advantages"].shape[0]
        stats = {"approx_kl": [], "clip_frac": [], "entropy": [], "policy_loss": [], "value_loss": []}
        first_ratio_dev = 0.0
        # 5-6: epochs over shuffled minibatches
        for epoch in range(cfg.update_epochs):
            perm = torch.randperm(M, device=dev)
            epoch_kl = []
            for mb_idx in torch.tensor_split(perm, cfg.num_minibatches):
                if mb_idx.numel() == 0:
                    continue
                obs, act = batch["obs"][mb_idx], batch["actions"][mb_idx]
                dist = policy.distribution(obs)
                logp_new = dist.log_prob(act)                                               # (m,)
                entropy = dist.entropy().mean()
                mb_adv = batch["advantages"][mb_idx]
                if cfg.norm_adv:                                                            # 8
                    mb_adv = normalize_advantages(mb_adv)
                pg_loss, info = clipped_surrogate_loss(logp_new, batch["logp"][mb_idx], mb_adv, cfg.clip_coef)  # 7, 9
                v_new = value_fn(obs)                                                       # (m,)
                v_loss = value_loss(v_new, batch["returns"][mb_idx], batch["values"][mb_idx],
                                    cfg.clip_coef if cfg.clip_vloss else None)              # 10
                loss = pg_loss - cfg.ent_coef * entropy + cfg.vf_coef * v_loss              # 11
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)                         # 12
                optimizer.step()
                if epoch == 0 and len(stats["policy_loss"]) == 0:
                    first_ratio_dev = float((info["ratio"] - 1).abs().max())
                stats["approx_kl"].append(float(info["approx_kl"]))
                stats["clip_frac"].append(float(info["clip_frac"]))
                stats["entropy"].append(float(entropy.detach()))
                stats["policy_loss"].append(float(pg_loss.detach()))
                stats["value_loss"].append(float(v_loss.detach()))
                epoch_kl.append(float(info["approx_kl"]))
            if cfg.target_kl is not None and np.mean(epoch_kl) > cfg.target_kl:            # 13
                break
        if obs_norm is not None:       # after the update: π is one function during a rollout and its update
            obs_norm.update(batch["obs"])
        with torch.no_grad():
            ev = explained_variance(batch["values"], batch["returns"])
        elapsed = time.perf_counter() - start
        record_update(history, env_steps=collector.env_steps, wall_time=elapsed,
                      sps=collector.env_steps / max(elapsed, 1e-9), lr=lr_now,
                      approx_kl=np.mean(stats["approx_kl"]), clip_frac=np.mean(stats["clip_frac"]),
                      entropy=np.mean(stats["entropy"]), policy_loss=np.mean(stats["policy_loss"]),
                      value_loss=np.mean(stats["value_loss"]), explained_variance=ev,
                      first_ratio_max_dev=first_ratio_dev,
                      mean_return=collector.stats.mean_last(cfg.solved_window))
        solved = end_of_update(history, collector, cfg, bar, steps_before, stop_when_solved, callback)
    return finish_training(history, collector, envs, cfg, bar, policy, value_fn)
