"""REINFORCE: the loss, unbiasedness of the score-function estimator on a bandit, solving CartPole."""
import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.distributions import Categorical

from lmrl_course.rl.envs import MultiArmedBandit, make_vector_env
from lmrl_course.rl.reinforce import ReinforceConfig, reinforce_loss, train_reinforce
from lmrl_course.rl.rollout import RolloutCollector


def test_reinforce_loss_formula_and_gradient():
    logp = torch.tensor([-0.5, -1.0, -2.0], requires_grad=True)
    adv = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    loss = reinforce_loss(logp, adv)
    assert loss.item() == pytest.approx(-(-0.5 * 1.0 + -1.0 * -2.0 + -2.0 * 0.5) / 3)
    loss.backward()
    torch.testing.assert_close(logp.grad, -adv.detach() / 3)
    assert adv.grad is None            # no gradient flows into the advantages / baseline
    masked = reinforce_loss(logp.detach(), adv.detach(), mask=torch.tensor([True, False, True]))
    assert masked.item() == pytest.approx(-(-0.5 * 1.0 + -2.0 * 0.5) / 2)


def test_reinforce_loss_bad_input():
    with pytest.raises(ValueError):
        reinforce_loss(torch.zeros(3), torch.zeros(4))
    with pytest.raises(TypeError):
        reinforce_loss(torch.zeros(3), [0.0, 0.0, 0.0])


class LogitsPolicy(nn.Module):
    """π_θ(a) = softmax(θ)_a, the same for every observation (a bandit has one state)."""

    def __init__(self, logits):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor(logits, dtype=torch.float64))

    def distribution(self, obs):
        return Categorical(logits=self.theta.expand(obs.shape[0], -1))


def test_score_function_estimator_is_unbiased_on_a_bandit():
    means = np.array([0.2, 0.5, 0.8])
    torch.manual_seed(0)
    pi = LogitsPolicy([0.3, -0.2, 0.1])
    envs = make_vector_env(lambda: MultiArmedBandit(means, kind="bernoulli"), 256, seed=0)
    # next-step autoreset: every other step of a one-step episode is an autoreset step (invalid)
    rollout = RolloutCollector(envs, pi, None, device="cpu", seed=0).collect(80)
    batch = rollout.flatten(rewards=rollout.rewards)
    M = batch["actions"].shape[0]
    assert M == 256 * 40
    actions, rewards = batch["actions"], batch["rewards"].double()
    # exact gradient of J(θ) = Σ_a π(a) μ_a:  ∂J/∂θ = π ⊙ (μ − πᵀμ)
    p = torch.softmax(pi.theta.detach(), 0)
    mu = torch.tensor(means)
    exact = p * (mu - p @ mu)
    for baseline in (0.0, 0.5):       # a constant baseline keeps the estimator unbiased
        logp = pi.distribution(torch.zeros(M, 1)).log_prob(actions)
        pi.theta.grad = None
        reinforce_loss(logp, rewards - baseline).backward()
        estimate = -pi.theta.grad                          # ∇J ≈ mean[∇log π(a) (r − b)]
        # standard error from the per-sample gradients (e_a − π)(r − b)
        per_sample = (torch.nn.functional.one_hot(actions, 3).double() - p) * (rewards - baseline)[:, None]
        se = per_sample.std(0) / M ** 0.5
        torch.testing.assert_close(estimate, per_sample.mean(0))
        assert torch.all((estimate - exact).abs() < 4 * se), (estimate, exact, se)
    envs.close()


def test_train_reinforce_is_repeatable():
    cfg = ReinforceConfig(total_timesteps=2000, num_envs=2, num_steps=200)
    a = train_reinforce("CartPole-v1", cfg, device="cpu", seed=3)
    b = train_reinforce("CartPole-v1", cfg, device="cpu", seed=3)
    c = train_reinforce("CartPole-v1", cfg, device="cpu", seed=4)
    for key in ("episode_returns", "policy_loss", "value_loss", "entropy", "env_steps"):
        assert a[key] == b[key], key
    assert a["episode_returns"] != c["episode_returns"]
    for p, q in zip(a["policy"].parameters(), b["policy"].parameters()):
        assert torch.equal(p, q)


def test_reinforce_config_validation():
    with pytest.raises(ValueError):
        ReinforceConfig(num_envs=0)
    with pytest.raises(ValueError):
        ReinforceConfig(gamma=1.2)
    with pytest.raises(TypeError):
        train_reinforce("CartPole-v1", cfg={"lr": 1e-3})


def solves(train, cfg, seeds=(0, 1, 2), need=2):
    """Run seeds until ``need`` solved (or can no longer); check "solved" independently."""
    solved = []
    for i, seed in enumerate(seeds):
        h = train("CartPole-v1", cfg, device="cpu", seed=seed, stop_when_solved=True)
        r = h["episode_returns"]
        ok = any(np.mean(r[j - 19:j + 1]) >= 475 for j in range(19, len(r)))
        assert ok == (h["solved_at_env_steps"] is not None)
        if ok:
            assert h["solved_at_env_steps"] <= cfg.total_timesteps
        solved.append(ok)
        if sum(solved) >= need or sum(solved) + len(seeds) - i - 1 < need:
            break
    return solved


def test_reinforce_solves_cartpole():
    torch.set_num_threads(1)
    cfg = ReinforceConfig()
    solved = solves(train_reinforce, cfg)
    assert sum(solved) >= 2, solved
