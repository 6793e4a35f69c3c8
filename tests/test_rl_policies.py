"""Policies, value network, initialisation, the bandit environment, evaluation and plotting helpers."""
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn as nn
from gymnasium.utils.env_checker import check_env

from lmrl_course.rl.envs import MultiArmedBandit, make_vector_env
from lmrl_course.rl.evaluation import evaluate_policy
from lmrl_course.rl.plotting import moving_average, plot_learning_curves
from lmrl_course.rl.policies import CategoricalPolicy, GaussianPolicy, ValueNetwork, layer_init, make_policy, mlp



def test_categorical_policy_shapes_and_logp(device):
    torch.manual_seed(0)
    pi = CategoricalPolicy(4, 3, hidden=(16,)).to(device)
    obs = torch.randn(5, 4, device=device)
    logits = pi(obs)
    assert logits.shape == (5, 3)
    dist = pi.distribution(obs)
    a = dist.sample()
    assert a.shape == (5,)
    ref = torch.log_softmax(logits, -1).gather(1, a[:, None]).squeeze(1)   # torch's own op
    torch.testing.assert_close(dist.log_prob(a), ref)
    torch.testing.assert_close(pi.greedy_action(obs), logits.argmax(-1))


def test_gaussian_policy_logp_and_state_independent_std(device):
    torch.manual_seed(0)
    pi = GaussianPolicy(3, 2, hidden=(8, 8), log_std_init=-0.5).to(device)
    obs = torch.randn(6, 3, device=device)
    dist = pi.distribution(obs)
    a = dist.sample()
    assert a.shape == (6, 2) and dist.log_prob(a).shape == (6,)
    mean, std = pi(obs), math.exp(-0.5)
    ref = (-0.5 * ((a - mean) / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)).sum(-1)
    torch.testing.assert_close(dist.log_prob(a), ref)
    # the same σ for every state
    torch.testing.assert_close(dist.base_dist.scale, torch.full((6, 2), std, device=device))
    assert dist.entropy().shape == (6,)


def test_value_network_shape():
    v = ValueNetwork(5, hidden=(7,))
    assert v(torch.randn(9, 5)).shape == (9,)


def test_layer_init_is_orthogonal_with_gain():
    lin = layer_init(nn.Linear(10, 4), gain=2.0)
    W = lin.weight.detach().double()
    torch.testing.assert_close(W @ W.T, 4.0 * torch.eye(4, dtype=torch.float64), atol=1e-5, rtol=1e-5)
    assert torch.equal(lin.bias, torch.zeros(4))
    with pytest.raises(TypeError):
        layer_init(nn.Conv1d(1, 1, 1))


def test_mlp_structure_and_output_gain():
    net = mlp([4, 32, 32, 2], nn.Tanh, output_gain=0.01)
    linears = [m for m in net if isinstance(m, nn.Linear)]
    assert [l.out_features for l in linears] == [32, 32, 2]
    assert sum(isinstance(m, nn.Tanh) for m in net) == 2
    assert not isinstance(net[-1], nn.Tanh)
    W = linears[-1].weight.detach().double()
    torch.testing.assert_close(W @ W.T, 1e-4 * torch.eye(2, dtype=torch.float64), atol=1e-8, rtol=1e-5)
    # the policy head's tiny gain makes the initial policy almost uniform
    pi = CategoricalPolicy(4, 2)
    probs = pi.distribution(torch.randn(100, 4)).probs
    assert (probs - 0.5).abs().max() < 0.05
    with pytest.raises(ValueError):
        mlp([4])
    with pytest.raises(ValueError):
        mlp([4, 0, 2])


def test_policy_input_validation():
    pi = CategoricalPolicy(4, 2)
    with pytest.raises(ValueError, match="obs_dim"):
        pi(torch.randn(3, 5))
    with pytest.raises(TypeError):
        pi(torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError):
        CategoricalPolicy(0, 2)
    with pytest.raises(ValueError):
        make_policy(gym.spaces.Box(-1, 1, (4,)), gym.spaces.MultiBinary(3))


def test_make_policy_picks_the_right_class():
    env = gym.make("CartPole-v1")
    assert isinstance(make_policy(env.observation_space, env.action_space), CategoricalPolicy)
    env = gym.make("Pendulum-v1")
    assert isinstance(make_policy(env.observation_space, env.action_space), GaussianPolicy)


def test_bandit_passes_env_checker_and_has_the_given_means():
    for kind in ("bernoulli", "gaussian"):
        env = MultiArmedBandit([0.1, 0.9, 0.4], kind=kind, noise_std=0.5)
        check_env(env, skip_render_check=True)
        env.reset(seed=0)
        rewards = np.array([[env.step(a)[1] for _ in range(4000)] for a in range(3)])
        se = rewards.std(axis=1) / np.sqrt(4000)
        assert np.all(np.abs(rewards.mean(axis=1) - env.means) < 5 * se + 1e-9)
        assert env.optimal_action == 1
        _, _, terminated, truncated, _ = env.step(0)
        assert terminated and not truncated
    with pytest.raises(ValueError):
        MultiArmedBandit([0.5, 1.5])
    with pytest.raises(ValueError):
        MultiArmedBandit([0.5], kind="poisson")


def test_make_vector_env_is_next_step_autoreset_and_validates():
    envs = make_vector_env("CartPole-v1", 2, seed=0)
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    assert envs.num_envs == 2
    envs.close()
    envs = make_vector_env(lambda: MultiArmedBandit([0.2, 0.8]), 3)
    assert envs.num_envs == 3
    with pytest.raises(ValueError):
        make_vector_env("CartPole-v1", 0)
    with pytest.raises(TypeError):
        make_vector_env(42, 1)


def test_evaluate_policy_is_repeatable_and_greedy_uses_argmax():
    torch.manual_seed(0)
    pi = CategoricalPolicy(4, 2)
    a = evaluate_policy(pi, "CartPole-v1", n_episodes=3, greedy=False, seed=5)
    b = evaluate_policy(pi, "CartPole-v1", n_episodes=3, greedy=False, seed=5)
    assert np.array_equal(a["returns"], b["returns"]) and a["returns"].shape == (3,)

    class AlwaysLeft(nn.Module):  # greedy must call greedy_action: pushing left ends CartPole in ~10 steps
        def greedy_action(self, obs):
            return torch.zeros(obs.shape[0], dtype=torch.long)

        def distribution(self, obs):
            raise AssertionError("greedy evaluation must not sample")

        def parameters(self):
            return iter([torch.zeros(1)])

    res = evaluate_policy(AlwaysLeft(), "CartPole-v1", n_episodes=2, greedy=True, seed=0)
    assert res["lengths"].max() < 20
    with pytest.raises(ValueError):
        evaluate_policy(pi, "CartPole-v1", n_episodes=0)


def test_moving_average_bruteforce():
    x = np.random.default_rng(0).normal(size=37)
    got = moving_average(x, 5)
    ref = [np.mean(x[max(0, i - 4):i + 1]) for i in range(37)]
    np.testing.assert_allclose(got, ref)
    with pytest.raises(ValueError):
        moving_average(x, 0)


def test_plot_learning_curves_draws_each_history():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h = {"algo": "x", "seed": 0, "episode_returns": [10.0, 20.0, 30.0], "episode_env_steps": [10, 30, 60],
         "episode_wall_time": [0.1, 0.2, 0.3], "solved_at_env_steps": None, "solved_at_wall_time": None}
    ax = plot_learning_curves({"a": h, "b": h}, x="wall_time", window=2)
    assert len([l for l in ax.get_lines() if l.get_label() in ("a", "b")]) == 2
    plt.close("all")
    with pytest.raises(ValueError):
        plot_learning_curves([h], x="episodes")


def test_obs_normalizer_running_stats_match_numpy_and_are_shared():
    from lmrl_course.rl.policies import CategoricalPolicy, ValueNetwork, add_obs_normalizer
    rng = np.random.default_rng(0)
    batches = [rng.normal(loc=[5.0, -3.0, 0.0], scale=[2.0, 0.1, 10.0], size=(n, 3)) for n in (7, 50, 1, 200)]
    pi, v = CategoricalPolicy(3, 2), ValueNetwork(3)
    norm = add_obs_normalizer(pi, v)
    x0 = torch.tensor(batches[0][:2], dtype=torch.float32)
    before = pi(x0).detach().clone()
    for b in batches:
        norm.update(torch.tensor(b))
    allx = np.concatenate(batches)
    np.testing.assert_allclose(norm.mean.numpy(), allx.mean(0), rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(norm.var.numpy(), allx.var(0), rtol=1e-3, atol=1e-6)
    z = norm(torch.tensor(allx[:5], dtype=torch.float32))
    np.testing.assert_allclose(z.numpy(), np.clip((allx[:5] - allx.mean(0)) / np.sqrt(allx.var(0) + 1e-8), -10, 10),
                               rtol=1e-3, atol=1e-3)
    assert not torch.allclose(pi(x0), before)          # the policy now sees normalised inputs
    assert v.net[0] is pi.net[0]                      # one normaliser, shared by actor and critic
    assert all("mean" not in n for n, _ in pi.named_parameters())   # statistics are buffers, not trained
