"""Rollout collection: Gymnasium 1.x next-step autoreset handled explicitly.

A tiny environment makes every quantity recognisable: the observation is ``[t, env_kind]`` with
``t`` the step inside the episode, the reward of a real step is ``10 + t`` (never 0), and episodes
end after a fixed number of steps either by termination or by truncation.
"""
import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn as nn

from lmrl_course.rl.envs import make_vector_env
from lmrl_course.rl.policies import CategoricalPolicy
from lmrl_course.rl.rollout import EpisodeStats, RolloutCollector


class FixedLengthEnv(gym.Env):
    """Episodes of exactly ``length`` steps that end by ``terminated`` or by ``truncated``."""

    def __init__(self, length=3, truncate=False):
        self.length, self.truncate = length, truncate
        self.observation_space = gym.spaces.Box(-1e3, 1e3, (2,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.t = 0

    def _obs(self):
        return np.array([self.t, float(self.truncate)], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        reward = 10.0 + self.t
        self.t += 1
        done = self.t >= self.length
        return self._obs(), reward, done and not self.truncate, done and self.truncate, {}


class StepValue(nn.Module):
    """V(s) = 100 · t + 1: a fixed, recognisable value of each observation."""

    def forward(self, obs):
        return 100.0 * obs[..., 0] + 1.0


def make_envs():
    fns = [lambda: FixedLengthEnv(3, truncate=False), lambda: FixedLengthEnv(4, truncate=True)]
    return gym.vector.SyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP)


def collect(num_steps=11, calls=1):
    torch.manual_seed(0)
    envs = make_envs()
    col = RolloutCollector(envs, CategoricalPolicy(2, 2), StepValue(), device="cpu", seed=0)
    rollouts = [col.collect(num_steps) for _ in range(calls)]
    return col, rollouts


def test_autoreset_steps_are_marked_invalid_exactly_after_each_done():
    col, (r,) = collect(11)
    # env 0: episodes of 3 real steps + 1 autoreset step -> period 4; env 1: 4 + 1 -> period 5
    expect_valid_0 = [t % 4 != 3 for t in range(11)]
    expect_valid_1 = [t % 5 != 4 for t in range(11)]
    assert r.valid[:, 0].tolist() == expect_valid_0
    assert r.valid[:, 1].tolist() == expect_valid_1
    # done exactly on the last real step of each episode, and of the right kind
    assert r.terminated[:, 0].tolist() == [t % 4 == 2 for t in range(11)]
    assert r.truncated[:, 1].tolist() == [t % 5 == 3 for t in range(11)]
    assert not r.truncated[:, 0].any() and not r.terminated[:, 1].any()


def test_autoreset_step_is_never_trained_on():
    col, (r,) = collect(11)
    adv, ret = r.advantages_and_returns(gamma=0.9, gae_lambda=0.95)
    batch = r.flatten(advantages=adv, returns=ret)
    # every training sample is a real transition: it starts from a state with t < length ...
    t_in_batch = batch["obs"][:, 0]
    lengths = torch.where(batch["obs"][:, 1] > 0, 4.0, 3.0)
    assert (t_in_batch < lengths).all()
    # ... and the number of samples is the number of real transitions
    assert batch["obs"].shape[0] == r.num_valid == int(r.valid.sum()) == col.env_steps
    # an autoreset step stores the final obs (t = length) with reward 0; none of those survive
    inval = ~r.valid
    assert (r.rewards[inval] == 0).all()
    assert (r.obs[inval][:, 0] == torch.where(r.obs[inval][:, 1] > 0, 4.0, 3.0)).all()
    # the rewards of all real steps are 10 + t
    real_rewards = r.rewards[r.valid]
    real_t = r.obs[r.valid][:, 0]
    torch.testing.assert_close(real_rewards, 10.0 + real_t)


def test_truncation_bootstraps_from_true_final_observation_not_reset_observation():
    gamma = 0.9
    _, (r,) = collect(11)
    adv, ret = r.advantages_and_returns(gamma=gamma, gae_lambda=0.0)  # λ = 0: Â_t = δ_t
    # env 1 (truncated after 4 steps): at t = 3 the episode is cut; the final obs has t = 4 -> V = 401
    t_cut = 3
    assert r.truncated[t_cut, 1]
    s_t = r.obs[t_cut, 1, 0].item()                   # 3
    expected = (10.0 + s_t) + gamma * (100.0 * 4 + 1.0) - (100.0 * s_t + 1.0)
    assert adv[t_cut, 1].item() == pytest.approx(expected)
    wrong = (10.0 + s_t) + gamma * (100.0 * 0 + 1.0) - (100.0 * s_t + 1.0)   # bootstrapping from the reset obs
    assert adv[t_cut, 1].item() != pytest.approx(wrong)
    # env 0 (terminated after 3 steps): no bootstrap at all
    assert r.terminated[2, 0]
    assert adv[2, 0].item() == pytest.approx((10.0 + 2) - (100.0 * 2 + 1.0))


def test_monte_carlo_returns_of_real_steps():
    gamma = 0.5
    _, (r,) = collect(11)
    _, ret = r.advantages_and_returns(gamma=gamma, gae_lambda=1.0)
    # env 0, first episode, rewards 10, 11, 12 then terminated
    torch.testing.assert_close(ret[:3, 0], torch.tensor([10 + 0.5 * 11 + 0.25 * 12, 11 + 0.5 * 12, 12.0]))
    # env 1, first episode, rewards 10..13 then truncated with V(final obs) = 401
    G3 = 13 + 0.5 * 401
    torch.testing.assert_close(ret[:4, 1], torch.tensor([10 + 0.5 * (11 + 0.5 * (12 + 0.5 * G3)),
                                                         11 + 0.5 * (12 + 0.5 * G3), 12 + 0.5 * G3, G3]))
    # truncation mistaken for termination drops the bootstrap
    _, ret_bug = r.advantages_and_returns(gamma=gamma, gae_lambda=1.0, truncation_as_termination=True)
    assert ret_bug[3, 1].item() == pytest.approx(13.0)


def test_state_carries_across_rollouts_and_episode_stats():
    # 4 calls of 3 steps = 12 steps, the same as one call of 12 steps
    col_a, rs = collect(3, calls=4)
    col_b, (rb,) = collect(12)
    valid_a = torch.cat([r.valid for r in rs])
    assert torch.equal(valid_a, rb.valid)
    assert col_a.stats.returns == col_b.stats.returns
    # env 0 episodes: 10 + 11 + 12 = 33 (length 3); env 1: 10 + 11 + 12 + 13 = 46 (length 4)
    assert sorted(set(col_a.stats.returns)) == [33.0, 46.0]
    assert all((L == 3 and R == 33.0) or (L == 4 and R == 46.0) for R, L in zip(col_a.stats.returns, col_a.stats.lengths))
    assert col_a.stats.env_steps == sorted(col_a.stats.env_steps)
    assert col_a.env_steps == int(valid_a.sum())


def test_rollout_on_cartpole_shapes_and_last_value():
    torch.manual_seed(0)
    envs = make_vector_env("CartPole-v1", 3, seed=0)
    from lmrl_course.rl.policies import ValueNetwork
    v = ValueNetwork(4)
    col = RolloutCollector(envs, CategoricalPolicy(4, 2), v, device="cpu", seed=0)
    r = col.collect(50)
    assert r.obs.shape == (50, 3, 4) and r.actions.shape == (50, 3) and r.logp.shape == (50, 3)
    assert r.valid.dtype == torch.bool
    with torch.no_grad():
        torch.testing.assert_close(r.last_value, v(torch.as_tensor(col.next_obs, dtype=torch.float32)))
        torch.testing.assert_close(r.values, v(r.obs))
    envs.close()


def test_collector_rejects_same_step_autoreset_and_bad_args():
    envs = gym.vector.SyncVectorEnv([lambda: FixedLengthEnv()], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    with pytest.raises(ValueError, match="next-step"):
        RolloutCollector(envs, CategoricalPolicy(2, 2))
    with pytest.raises(TypeError):
        RolloutCollector(make_envs(), nn.Linear(2, 2))
    col = RolloutCollector(make_envs(), CategoricalPolicy(2, 2), device="cpu")
    with pytest.raises(ValueError):
        col.collect(0)
    r = col.collect(2)
    with pytest.raises(ValueError):
        r.flatten(advantages=torch.zeros(3, 2))


def test_episode_stats_solved_index_bruteforce():
    rng = np.random.default_rng(0)
    stats = EpisodeStats(returns=list(rng.uniform(0, 500, size=200)))
    stats.returns[100:130] = [500.0] * 30
    idx = stats.solved_index(475.0, 20)
    ref = next(i for i in range(19, 200) if np.mean(stats.returns[i - 19:i + 1]) >= 475.0)
    assert idx == ref
    assert EpisodeStats(returns=[500.0] * 19).solved_index(475, 20) is None
