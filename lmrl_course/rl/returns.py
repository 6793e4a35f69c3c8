"""Returns and advantages: reward-to-go ``G_t`` and generalised advantage estimation ``Â_t``.

Everything here is a pure function of tensors laid out **time first**: shape ``(N,)`` for one
environment or ``(N, B)`` for ``B`` environments stepped together (``N`` = rollout length). The same
functions work for a language model's per-token rewards (``T`` in place of ``N``).

Two ways an episode ends (Gymnasium, see ``NOTATION.md``):

* ``terminated``: the MDP reached a terminal state. Nothing comes after it, its value is 0, so the
  recursion does **not** bootstrap and nothing propagates backwards across it.
* ``truncated``: a time limit (or the end of the rollout) cut the episode short. The state after it
  still has a value, so we bootstrap from ``γ·V(s_final)``: the value of the true final observation
  of that episode (never the observation the environment was reset to).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch

from lmrl_course.validation import require_in_range, require_mask, require_same_shape, require_tensor

__all__ = ["discounted_returns", "gae", "normalize_advantages"]


def _as_float_mask(x: torch.Tensor, like: torch.Tensor, name: str) -> torch.Tensor:
    require_mask(x, name)  # bool or 0/1: a "done" of 2 would multiply the future by 1 − 2 = −1
    require_same_shape(x, like, name, "rewards")
    return x.to(dtype=like.dtype, device=like.device)


def discounted_returns(rewards: torch.Tensor, dones: torch.Tensor, gamma: float = 0.99,
                       last_value: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Discounted reward-to-go along time (axis 0).

        G_t = r_t + γ · (1 − done_t) · G_{t+1},        G_N = last_value (or 0)

    ``dones[t]`` marks that the episode ended *at* step ``t`` (the reward ``r_t`` still counts, but
    nothing after it does). ``last_value`` bootstraps the sum past the last step of the rollout
    (shape ``()`` for ``(N,)`` rewards, ``(B,)`` for ``(N, B)`` rewards); it is ignored where the last
    step is done. For truncation-aware bootstrapping in the middle of a rollout use :func:`gae` with
    ``gae_lambda=1`` (its ``returns`` are exactly this reward-to-go, bootstrapped at truncations).

    Args:
        rewards: ``(N,)`` or ``(N, B)`` float tensor.
        dones: same shape; bool, or 0/1 (anything else raises ``ValueError``; checked on the CPU).
        gamma: discount γ in [0, 1].
        last_value: optional ``V(s_N)``.
    Returns:
        ``returns`` with the shape of ``rewards``.
    """
    require_tensor(rewards, "rewards", ndim=(1, 2), kind="float", dims="(N,) or (N, B)")
    done = _as_float_mask(dones, rewards, "dones")
    require_in_range(gamma, "gamma", 0.0, 1.0)
    if last_value is None:
        running = rewards.new_zeros(rewards.shape[1:])  # (,) or (B,); N = 0 steps gives empty returns
    else:
        require_tensor(last_value, "last_value", kind="float")
        if last_value.shape != rewards.shape[1:]:
            raise ValueError(f"last_value must have shape {tuple(rewards.shape[1:])} (one value per environment), "
                             f"got {tuple(last_value.shape)}")
        running = last_value.to(rewards.dtype).detach()
    returns = torch.zeros_like(rewards)
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * (1.0 - done[t]) * running
        returns[t] = running
    return returns


def gae(rewards: torch.Tensor, values: torch.Tensor, terminated: torch.Tensor, truncated: torch.Tensor,
        next_values: Optional[torch.Tensor] = None, *, last_value: Optional[torch.Tensor] = None,
        gamma: float = 0.99, gae_lambda: float = 0.95) -> Tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al., 2016), truncation-aware.

    With ``V'_t`` = ``next_values[t]`` = V(s_{t+1}), the value of the observation that step ``t``
    actually led to (for a step that ended an episode: the true final observation):

        δ_t = r_t + γ · (1 − terminated_t) · V'_t − V(s_t)                 (TD error)
        Â_t = δ_t + γλ · (1 − done_t) · Â_{t+1},   done_t = terminated_t ∨ truncated_t,  Â_N = 0
        returns_t = Â_t + V(s_t)                                            (the value target)

    So a terminal step bootstraps nothing, a truncated step bootstraps ``γ·V(s_final)``, and no
    advantage flows backwards across either. Special cases: λ = 0 gives Â_t = δ_t; λ = 1 gives
    Â_t = G_t − V(s_t) with G_t the reward-to-go, bootstrapped at truncations and at the rollout end.

    ``next_values`` may be omitted when ``values`` already holds it shifted by one, i.e. when
    ``next_values[t] = values[t+1]`` for ``t < N−1`` and ``next_values[N−1] = last_value``. That is
    the case for the rollouts of :mod:`lmrl_course.rl.rollout` (Gymnasium's next-step autoreset puts
    the final observation of an episode at step ``t+1``), so there you pass ``last_value`` only.

    Args:
        rewards, values, terminated, truncated: ``(N,)`` or ``(N, B)``; masks bool or 0/1
            (anything else raises ``ValueError``; checked on the CPU). N = 0 gives empty outputs.
        next_values: ``V(s_{t+1})`` per step, same shape; or None (then ``last_value`` is required).
        last_value: ``V(s_N)``, shape ``rewards.shape[1:]``; used only when ``next_values`` is None.
        gamma: discount γ in [0, 1]; gae_lambda: λ in [0, 1].
    Returns:
        ``(advantages, returns)``, both with the shape of ``rewards``, no gradient attached.
    """
    require_tensor(rewards, "rewards", ndim=(1, 2), kind="float", dims="(N,) or (N, B)")
    require_tensor(values, "values", kind="float")
    require_same_shape(values, rewards, "values", "rewards")
    term = _as_float_mask(terminated, rewards, "terminated")
    trunc = _as_float_mask(truncated, rewards, "truncated")
    require_in_range(gamma, "gamma", 0.0, 1.0)
    require_in_range(gae_lambda, "gae_lambda", 0.0, 1.0)
    values = values.detach().to(rewards.dtype)
    if next_values is None:
        if last_value is None:
            raise ValueError("gae needs next_values (V of the observation each step led to) or last_value "
                             "(V of the observation after the last step) to bootstrap from")
        require_tensor(last_value, "last_value", kind="float")
        if last_value.shape != rewards.shape[1:]:
            raise ValueError(f"last_value must have shape {tuple(rewards.shape[1:])}, got {tuple(last_value.shape)}")
        next_values = torch.cat([values[1:], last_value.detach().to(values).unsqueeze(0)], dim=0)
    else:
        require_tensor(next_values, "next_values", kind="float")
        require_same_shape(next_values, rewards, "next_values", "rewards")
        next_values = next_values.detach().to(rewards.dtype)
    done = torch.clamp(term + trunc, max=1.0)
    deltas = rewards + gamma * (1.0 - term) * next_values - values            # δ_t
    advantages = torch.zeros_like(rewards)
    running = rewards.new_zeros(rewards.shape[1:])  # (,) or (B,)
    for t in reversed(range(rewards.shape[0])):
        running = deltas[t] + gamma * gae_lambda * (1.0 - done[t]) * running  # Â_t
        advantages[t] = running
    returns = advantages + values
    return advantages, returns


def normalize_advantages(advantages: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Standardise a batch of advantages: ``(Â − mean(Â)) / (std(Â) + eps)``.

    Uses the population standard deviation (``correction=0``) so that a batch of one gives 0 instead
    of NaN. Normalising keeps the step size of the policy gradient independent of the reward scale;
    subtracting the mean is itself a (batch-level) baseline.
    """
    require_tensor(advantages, "advantages", kind="float")
    if advantages.numel() == 0:
        raise ValueError("advantages is empty: cannot normalise a batch of zero samples")
    require_in_range(eps, "eps", 0.0, None, low_inclusive=False)
    mean = advantages.mean()
    std = advantages.std(correction=0)
    return (advantages - mean) / (std + eps)
