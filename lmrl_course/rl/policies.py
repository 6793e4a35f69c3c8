"""Small policy and value networks for control tasks.

* :class:`CategoricalPolicy`  π_θ(a|s) = softmax(z_θ(s))_a           for ``Discrete`` actions
* :class:`GaussianPolicy`     π_θ(a|s) = N(a; μ_θ(s), diag σ²)        for ``Box`` actions; log σ is a
  learned vector that does not depend on the state (as in PPO/TRPO papers)
* :class:`ValueNetwork`       V_φ(s)                                  the critic, a separate network

Initialisation follows the PPO implementation details (Engstrom et al. 2020; Huang et al. 2022):
orthogonal weights with gain √2 in hidden layers, zero biases, gain 0.01 on the policy's output layer
(so the initial policy is nearly uniform / has mean ≈ 0) and gain 1 on the value head.
"""
from __future__ import annotations

import math
from typing import Sequence, Type

import torch
import torch.nn as nn
from torch.distributions import Categorical, Independent, Normal

from lmrl_course.validation import require_tensor

__all__ = ["layer_init", "mlp", "CategoricalPolicy", "GaussianPolicy", "ValueNetwork", "make_policy", "ObsNormalizer",
           "add_obs_normalizer"]


def layer_init(layer: nn.Linear, gain: float = math.sqrt(2), bias: float = 0.0) -> nn.Linear:
    """Orthogonal weight init with ``gain``, constant bias; returns the layer (for chaining)."""
    if not isinstance(layer, nn.Linear):
        raise TypeError(f"layer_init expects an nn.Linear, got {type(layer).__name__}")
    nn.init.orthogonal_(layer.weight, gain=gain)
    nn.init.constant_(layer.bias, bias)
    return layer


def mlp(sizes: Sequence[int], activation: Type[nn.Module] = nn.Tanh, output_gain: float = 1.0,
        hidden_gain: float = math.sqrt(2), ortho_init: bool = True) -> nn.Sequential:
    """Multi-layer perceptron ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``, no activation at the end.

    Hidden layers get orthogonal init with ``hidden_gain``, the last layer with ``output_gain``
    (``ortho_init=False`` keeps PyTorch's default init, for comparison).
    """
    sizes = list(sizes)
    if len(sizes) < 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"sizes must be at least two positive ints (input, ..., output), got {sizes}")
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        last = i == len(sizes) - 2
        lin = nn.Linear(sizes[i], sizes[i + 1])
        if ortho_init:
            layer_init(lin, gain=output_gain if last else hidden_gain)
        layers.append(lin)
        if not last:
            layers.append(activation())
    return nn.Sequential(*layers)


def _check_obs(obs: torch.Tensor, obs_dim: int) -> torch.Tensor:
    require_tensor(obs, "obs", kind="float")
    if obs.shape[-1] != obs_dim:
        raise ValueError(f"obs must have last dimension obs_dim={obs_dim}, got shape {tuple(obs.shape)}")
    return obs


def _check_dims(**dims) -> None:
    for name, d in dims.items():
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise ValueError(f"{name} must be a positive int, got {d!r}")


class CategoricalPolicy(nn.Module):
    """π_θ(a|s) = softmax(z_θ(s))_a over ``n_actions`` discrete actions.

    ``forward(obs)`` returns the logits z ``(B, n_actions)``; ``distribution(obs)`` the
    ``torch.distributions.Categorical`` whose ``log_prob(action)`` is ``logp`` ``(B,)``.
    """

    def __init__(self, obs_dim: int, n_actions: int, hidden: Sequence[int] = (64, 64),
                 activation: Type[nn.Module] = nn.Tanh, ortho_init: bool = True):
        super().__init__()
        _check_dims(obs_dim=obs_dim, n_actions=n_actions)
        self.obs_dim, self.n_actions = obs_dim, n_actions
        self.net = mlp([obs_dim, *hidden, n_actions], activation, output_gain=0.01, ortho_init=ortho_init)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(_check_obs(obs, self.obs_dim))  # (B, n_actions) logits

    def distribution(self, obs: torch.Tensor) -> Categorical:
        return Categorical(logits=self.forward(obs))

    def greedy_action(self, obs: torch.Tensor) -> torch.Tensor:
        """argmax_a π(a|s), shape (B,)."""
        return self.forward(obs).argmax(dim=-1)


class GaussianPolicy(nn.Module):
    """π_θ(a|s) = N(a; μ_θ(s), diag(σ²)) with a state-independent learned ``log_std``.

    ``forward(obs)`` returns the mean μ ``(B, act_dim)``; ``distribution(obs)`` an
    ``Independent(Normal(μ, σ), 1)`` so that ``log_prob(action)`` sums over action dimensions: (B,).
    Actions are unbounded; clip them to the action space only when sending them to the environment.
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (64, 64),
                 activation: Type[nn.Module] = nn.Tanh, log_std_init: float = 0.0, ortho_init: bool = True):
        super().__init__()
        _check_dims(obs_dim=obs_dim, act_dim=act_dim)
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.net = mlp([obs_dim, *hidden, act_dim], activation, output_gain=0.01, ortho_init=ortho_init)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(log_std_init)))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(_check_obs(obs, self.obs_dim))  # (B, act_dim) mean μ

    def distribution(self, obs: torch.Tensor) -> Independent:
        mean = self.forward(obs)
        return Independent(Normal(mean, self.log_std.exp().expand_as(mean)), 1)

    def greedy_action(self, obs: torch.Tensor) -> torch.Tensor:
        """The mean action μ_θ(s), shape (B, act_dim)."""
        return self.forward(obs)


class ValueNetwork(nn.Module):
    """V_φ(s): an MLP from ``obs_dim`` to one number, returned with shape ``(B,)``."""

    def __init__(self, obs_dim: int, hidden: Sequence[int] = (64, 64), activation: Type[nn.Module] = nn.Tanh,
                 ortho_init: bool = True):
        super().__init__()
        _check_dims(obs_dim=obs_dim)
        self.obs_dim = obs_dim
        self.net = mlp([obs_dim, *hidden, 1], activation, output_gain=1.0, ortho_init=ortho_init)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(_check_obs(obs, self.obs_dim)).squeeze(-1)  # (B,)


def make_policy(observation_space, action_space, hidden: Sequence[int] = (64, 64), ortho_init: bool = True,
                activation: Type[nn.Module] = nn.Tanh) -> nn.Module:
    """A :class:`CategoricalPolicy` for ``Discrete`` actions, a :class:`GaussianPolicy` for ``Box``."""
    import gymnasium as gym

    if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 1:
        raise ValueError(f"only flat Box observation spaces are supported, got {observation_space}")
    obs_dim = int(observation_space.shape[0])
    if isinstance(action_space, gym.spaces.Discrete):
        return CategoricalPolicy(obs_dim, int(action_space.n), hidden, activation, ortho_init)
    if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
        return GaussianPolicy(obs_dim, int(action_space.shape[0]), hidden, activation, ortho_init=ortho_init)
    raise ValueError(f"unsupported action space {action_space}: expected Discrete or a flat Box")


class ObsNormalizer(nn.Module):
    """Observation normalisation with running statistics:  x ↦ clip((x − μ) / √(σ² + 1e-8), −clip, clip).

    μ and σ² are buffers (saved with the module, never trained by gradient). They change only when
    :meth:`update` is called with a batch of raw observations; the training loops call it once per
    rollout, *after* the update on that rollout, so a policy is the same function during a rollout and
    during the update on it (the PPO ratio is exactly 1 at the first minibatch). Counts start at a tiny
    pseudo-count (μ = 0, σ² = 1), so the very first rollout sees the raw observations.
    """

    def __init__(self, obs_dim: int, clip: float = 10.0):
        super().__init__()
        _check_dims(obs_dim=obs_dim)
        self.clip = float(clip)
        self.register_buffer("mean", torch.zeros(obs_dim, dtype=torch.float64))
        self.register_buffer("var", torch.ones(obs_dim, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(1e-4, dtype=torch.float64))

    @torch.no_grad()
    def update(self, obs: torch.Tensor) -> None:
        """Merge the statistics of a batch ``(M, obs_dim)`` (parallel-variance formula of Chan et al.)."""
        x = obs.reshape(-1, self.mean.shape[0]).to(torch.float64)
        n = x.shape[0]
        if n == 0:
            return
        b_mean, b_var = x.mean(0), x.var(0, correction=0)
        delta, total = b_mean - self.mean, self.count + n
        self.mean += delta * n / total
        self.var.copy_((self.var * self.count + b_var * n + delta ** 2 * self.count * n / total) / total)
        self.count.fill_(float(total))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        z = (obs - self.mean.to(obs.dtype)) / torch.sqrt(self.var.to(obs.dtype) + 1e-8)
        return z.clamp(-self.clip, self.clip)


def add_obs_normalizer(*modules: nn.Module) -> ObsNormalizer:
    """Put one shared :class:`ObsNormalizer` in front of the ``net`` of each module (policy, value
    network); returns it. The modules keep their interface (``distribution``, ``greedy_action``, ...)."""
    obs_dim = modules[0].obs_dim
    norm = ObsNormalizer(obs_dim)
    for m in modules:
        if getattr(m, "obs_dim", None) != obs_dim or not isinstance(getattr(m, "net", None), nn.Module):
            raise TypeError("add_obs_normalizer expects modules with .obs_dim and .net (the course's policies / ValueNetwork)")
        m.net = nn.Sequential(norm, m.net)
    return norm
