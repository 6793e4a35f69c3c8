"""Evaluating a trained policy: run full episodes and report their undiscounted returns."""
from __future__ import annotations

from typing import Dict, Optional

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn

__all__ = ["evaluate_policy"]


@torch.no_grad()
def evaluate_policy(policy: nn.Module, env_id, n_episodes: int = 10, greedy: bool = True, seed: int = 0,
                    device=None, max_steps: Optional[int] = None) -> Dict[str, np.ndarray]:
    """Run ``n_episodes`` episodes of ``env_id`` with ``policy`` and return their returns and lengths.

    ``greedy=True`` takes the most likely action (argmax for CategoricalPolicy, the mean for
    GaussianPolicy); ``greedy=False`` samples from π_θ. Episode ``k`` is reset with ``seed + k``, so
    the same seed gives the same episodes. ``device`` defaults to where the policy's parameters live.
    Returns ``{"returns": (n_episodes,), "lengths": (n_episodes,), "mean": float, "std": float}``.
    """
    if isinstance(n_episodes, bool) or not isinstance(n_episodes, int) or n_episodes < 1:
        raise ValueError(f"n_episodes must be a positive int, got {n_episodes!r}")
    if not hasattr(policy, "distribution"):
        raise TypeError("policy must have a .distribution(obs) method (CategoricalPolicy or GaussianPolicy)")
    if device is None:
        device = next(policy.parameters()).device
    env = gym.make(env_id) if isinstance(env_id, str) else env_id()
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    returns, lengths = [], []
    try:
        for k in range(n_episodes):
            obs, _ = env.reset(seed=seed + k)
            total, steps, done = 0.0, 0, False
            while not done:
                x = torch.as_tensor(obs, dtype=torch.float32, device=device).unsqueeze(0)   # (1, obs_dim)
                if greedy:
                    action = policy.greedy_action(x)[0]
                else:
                    dist = policy.distribution(x)
                    # sample with our own generator so evaluation never disturbs the global RNG
                    if discrete:
                        action = torch.multinomial(dist.probs.cpu(), 1, generator=gen)[0, 0]
                    else:
                        mean, std = dist.base_dist.loc.cpu(), dist.base_dist.scale.cpu()
                        action = (mean + std * torch.randn(mean.shape, generator=gen))[0]
                a = action.cpu().numpy()
                a = int(a) if discrete else np.clip(a, env.action_space.low, env.action_space.high).astype(env.action_space.dtype)
                obs, reward, terminated, truncated, _ = env.step(a)
                total += float(reward)
                steps += 1
                done = terminated or truncated or (max_steps is not None and steps >= max_steps)
            returns.append(total)
            lengths.append(steps)
    finally:
        env.close()
    r = np.asarray(returns)
    return {"returns": r, "lengths": np.asarray(lengths), "mean": float(r.mean()), "std": float(r.std())}
