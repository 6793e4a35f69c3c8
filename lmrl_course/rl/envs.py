"""Environments: a multi-armed bandit with known means, and vector-env construction.

:class:`MultiArmedBandit` is the smallest RL problem there is: one state, ``k`` actions, each episode
one step long. Because the arm means are known, the exact policy gradient can be computed by hand,
which is what the tests (and notebook 04) check the score-function estimator against.

:func:`make_vector_env` builds a ``gymnasium.vector.SyncVectorEnv`` with Gymnasium 1.x's
**next-step** autoreset made explicit; see :mod:`lmrl_course.rl.rollout` for what that means for
training.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

import gymnasium as gym
import numpy as np

__all__ = ["MultiArmedBandit", "make_vector_env", "env_spaces"]


class MultiArmedBandit(gym.Env):
    """A ``k``-armed bandit as a Gymnasium environment.

    * observation: the constant ``[0.0]`` (one state), in ``Box(0, 1, (1,))``
    * action: ``Discrete(k)``, the arm to pull
    * reward: Bernoulli(``means[a]``) for ``kind="bernoulli"``, N(``means[a]``, ``noise_std``²) for
      ``kind="gaussian"``; so E[reward | a] = ``means[a]`` in both cases
    * every episode ends after one step with ``terminated=True``

    Args:
        means: the expected reward of each arm (in [0, 1] for Bernoulli arms).
        kind: ``"bernoulli"`` or ``"gaussian"``.
        noise_std: standard deviation of Gaussian arms.
    """

    metadata = {"render_modes": []}

    def __init__(self, means: Sequence[float] = (0.2, 0.5, 0.8), kind: str = "bernoulli", noise_std: float = 1.0):
        means = np.asarray(means, dtype=np.float64)
        if means.ndim != 1 or means.size < 1:
            raise ValueError(f"means must be a non-empty 1-D sequence of arm means, got {means!r}")
        if kind not in ("bernoulli", "gaussian"):
            raise ValueError(f"kind must be 'bernoulli' or 'gaussian', got {kind!r}")
        if kind == "bernoulli" and (means.min() < 0 or means.max() > 1):
            raise ValueError(f"Bernoulli arm means must lie in [0, 1], got {means.tolist()}")
        if not noise_std > 0:
            raise ValueError(f"noise_std must be > 0, got {noise_std}")
        self.means = means
        self.kind = kind
        self.noise_std = float(noise_std)
        self.observation_space = gym.spaces.Box(low=0.0, high=1.0, shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(len(means))

    @property
    def n_arms(self) -> int:
        return len(self.means)

    @property
    def optimal_action(self) -> int:
        return int(np.argmax(self.means))

    def _obs(self) -> np.ndarray:
        return np.zeros(1, dtype=np.float32)

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        super().reset(seed=seed)
        return self._obs(), {}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an int in [0, {self.n_arms}), got {action!r}")
        mean = self.means[int(action)]
        if self.kind == "bernoulli":
            reward = float(self.np_random.random() < mean)
        else:
            reward = float(self.np_random.normal(mean, self.noise_std))
        return self._obs(), reward, True, False, {}


EnvSpec = Union[str, Callable[[], gym.Env]]


def make_vector_env(env_id: EnvSpec, num_envs: int = 1, seed: Optional[int] = None, **make_kwargs) -> gym.vector.SyncVectorEnv:
    """``num_envs`` copies of ``env_id`` stepped in lock-step, with next-step autoreset.

    ``env_id`` is a registered id (``"CartPole-v1"``) or a zero-argument callable returning an env.
    The environments are *not* reset here: reset them with ``envs.reset(seed=seed)`` (the rollout
    collector does), which seeds copy ``i`` with ``seed + i``. ``seed`` here seeds the action space
    (used only by ``envs.action_space.sample()``).
    """
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
    if isinstance(env_id, str):
        fns = [lambda: gym.make(env_id, **make_kwargs) for _ in range(num_envs)]
    elif callable(env_id):
        fns = [env_id for _ in range(num_envs)]
    else:
        raise TypeError(f"env_id must be a registered id (str) or a callable returning an env, got {type(env_id).__name__}")
    envs = gym.vector.SyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP)
    if seed is not None:
        envs.action_space.seed(seed)
    return envs


def env_spaces(env_id: EnvSpec):
    """``(single_observation_space, single_action_space)`` of an env id or env factory."""
    env = gym.make(env_id) if isinstance(env_id, str) else env_id()
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()
