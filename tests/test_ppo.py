"""PPO: the loss pieces against hand-worked numbers, gradients at the clip boundary, training."""
import math

import numpy as np
import pytest
import torch
from torch.nn.utils import parameters_to_vector

import lmrl_course.rl.ppo as ppo_module
from lmrl_course.rl.ppo import (PPOConfig, approx_kl_k3, clip_fraction, clipped_surrogate_loss, explained_variance,
                                masked_mean, train_ppo, value_loss)
from lmrl_course.rl.rollout import RolloutCollector
from test_reinforce import solves



def hand_batch(device="cpu"):
    ratio = torch.tensor([0.5, 1.1, 1.5, 0.9], dtype=torch.float64, device=device)
    adv = torch.tensor([1.0, -1.0, 2.0, -3.0], dtype=torch.float64, device=device)
    logp_old = torch.log(torch.tensor([0.5, 0.25, 0.1, 0.8], dtype=torch.float64, device=device))
    logp_new = (logp_old + torch.log(ratio)).requires_grad_(True)
    return ratio, adv, logp_old, logp_new


def test_clipped_surrogate_loss_hand_example(device):
    ratio, adv, logp_old, logp_new = hand_batch(device)
    loss, info = clipped_surrogate_loss(logp_new, logp_old, adv, clip_coef=0.2)
    # min(r·A, clip(r)·A): 0.5·1 = 0.5 | −1.1 | min(3.0, 2.4) = 2.4 | −2.7   -> loss = −mean = 0.225
    assert loss.item() == pytest.approx(0.225)
    torch.testing.assert_close(info["ratio"], ratio)
    assert info["clip_frac"].item() == pytest.approx(0.5)          # 0.5 and 1.5 lie outside [0.8, 1.2]
    k3 = sum((r - 1) - math.log(r) for r in [0.5, 1.1, 1.5, 0.9]) / 4
    assert info["approx_kl"].item() == pytest.approx(k3)


def test_gradient_of_clipped_term_is_zero_beyond_the_clip_in_the_advantage_direction():
    eps = 0.2
    # (ratio, advantage): pushed past 1+ε with Â>0 -> 0 | past 1−ε with Â<0 -> 0 |
    #                     below 1−ε with Â>0 -> −r·Â/M | above 1+ε with Â<0 -> −r·Â/M | inside -> −r·Â/M
    cases = [(1.5, 2.0, 0.0), (0.5, -1.0, 0.0), (0.5, 1.0, None), (1.5, -1.0, None), (1.1, 3.0, None)]
    ratio = torch.tensor([c[0] for c in cases], dtype=torch.float64)
    adv = torch.tensor([c[1] for c in cases], dtype=torch.float64)
    logp_old = torch.zeros(5, dtype=torch.float64)
    logp_new = torch.log(ratio).requires_grad_(True)
    loss, _ = clipped_surrogate_loss(logp_new, logp_old, adv, eps)
    loss.backward()
    M = len(cases)
    for i, (r, a, expect) in enumerate(cases):
        want = 0.0 if expect == 0.0 else -r * a / M        # d(−r·A/M)/d logp = −r·A/M
        assert logp_new.grad[i].item() == pytest.approx(want, abs=1e-12), (r, a)


def test_ratio_one_gives_plain_policy_gradient():
    logp = torch.randn(6, dtype=torch.float64, requires_grad=True)
    adv = torch.randn(6, dtype=torch.float64)
    loss, info = clipped_surrogate_loss(logp, logp.detach(), adv, 0.2)
    loss.backward()
    torch.testing.assert_close(logp.grad, -adv / 6)
    assert loss.item() == pytest.approx(-adv.mean().item())
    assert info["clip_frac"].item() == 0.0 and info["approx_kl"].item() == 0.0


def test_masked_loss_equals_loss_on_the_kept_elements():
    ratio, adv, logp_old, logp_new = hand_batch()
    mask = torch.tensor([True, False, True, True])
    full, _ = clipped_surrogate_loss(logp_new, logp_old, adv, 0.2, mask=mask)
    kept, _ = clipped_surrogate_loss(logp_new[mask], logp_old[mask], adv[mask], 0.2)
    assert full.item() == pytest.approx(kept.item())
    assert masked_mean(torch.tensor([1.0, 5.0]), torch.tensor([0.0, 1.0])).item() == 5.0


def test_value_loss_hand_example():
    v_new = torch.tensor([1.0, 2.0, 0.0])
    ret = torch.tensor([2.0, 2.5, -1.0])
    assert value_loss(v_new, ret).item() == pytest.approx(0.5 * (1 + 0.25 + 1) / 3)
    v_old = torch.tensor([0.0, 2.2, 0.5])
    # clipped values: 0 + clip(1, ±0.2) = 0.2 | 2.2 + clip(−0.2) = 2.0 | 0.5 + clip(−0.5) = 0.3
    # max of squared errors: max(1, 3.24) | max(0.25, 0.25) | max(1, 1.69)
    expect = 0.5 * (3.24 + 0.25 + 1.69) / 3
    assert value_loss(v_new, ret, v_old, clip_coef=0.2).item() == pytest.approx(expect, rel=1e-6)
    with pytest.raises(ValueError):
        value_loss(v_new, ret[:2])


def test_approx_kl_k3_nonnegative_and_unbiased():
    g = torch.Generator().manual_seed(0)
    lp_new, lp_old = torch.randn(1000, generator=g), torch.randn(1000, generator=g)
    per_sample = [approx_kl_k3(lp_new[i:i + 1], lp_old[i:i + 1]).item() for i in range(0, 1000, 10)]
    assert min(per_sample) >= 0.0
    assert approx_kl_k3(lp_old, lp_old).item() == 0.0
    # unbiased for KL(old ‖ new) with samples a ~ old: compare with the exact categorical KL
    p_old = torch.tensor([0.1, 0.6, 0.3], dtype=torch.float64)
    p_new = torch.tensor([0.3, 0.4, 0.3], dtype=torch.float64)
    exact = (p_old * (p_old / p_new).log()).sum().item()
    a = torch.multinomial(p_old, 200_000, replacement=True, generator=g)
    lr = (p_new[a] / p_old[a]).log()
    samples = torch.expm1(lr) - lr
    est = approx_kl_k3(p_new[a].log(), p_old[a].log()).item()
    assert abs(est - exact) < 4 * samples.std().item() / math.sqrt(len(a))


def test_clip_fraction_and_explained_variance_against_numpy():
    r = torch.tensor([0.7, 0.85, 1.0, 1.19, 1.21, 2.0])
    assert clip_fraction(r, 0.2).item() == pytest.approx(3 / 6)
    rng = np.random.default_rng(0)
    y = rng.normal(size=50)
    yp = y + 0.3 * rng.normal(size=50)
    ev = explained_variance(torch.tensor(yp), torch.tensor(y))
    assert ev == pytest.approx(1 - np.var(y - yp) / np.var(y))
    assert explained_variance(torch.tensor(y), torch.tensor(y)) == pytest.approx(1.0)
    assert math.isnan(explained_variance(torch.zeros(3), torch.ones(3)))


def test_loss_input_validation():
    z = torch.zeros(3)
    with pytest.raises(ValueError):
        clipped_surrogate_loss(z, torch.zeros(4), z)
    with pytest.raises(ValueError):
        clipped_surrogate_loss(z, z, z, clip_coef=0.0)
    with pytest.raises(TypeError):
        approx_kl_k3(z, [0.0, 0.0, 0.0])
    with pytest.raises(ValueError):
        PPOConfig(num_minibatches=0)
    with pytest.raises(ValueError):
        PPOConfig(gae_lambda=-0.1)
    with pytest.raises(TypeError):
        train_ppo("CartPole-v1", cfg={"lr": 1e-3})


def test_ratio_is_one_on_the_first_minibatch_of_every_update(monkeypatch):
    """Record every call of the loss; the first call after each rollout must see π_θ = π_θold."""
    events, collectors = [], []
    real_loss, real_collect = ppo_module.clipped_surrogate_loss, RolloutCollector.collect

    def policy_params():
        return parameters_to_vector(collectors[-1].policy.parameters()).detach().clone()

    def spy_loss(logp_new, logp_old, advantages, clip_coef, mask=None):
        events.append(("loss", torch.exp(logp_new.detach() - logp_old).clone(), policy_params()))
        return real_loss(logp_new, logp_old, advantages, clip_coef, mask)

    def spy_collect(self, num_steps):
        collectors.append(self)
        events.append(("collect", None, policy_params()))
        return real_collect(self, num_steps)

    monkeypatch.setattr(ppo_module, "clipped_surrogate_loss", spy_loss)
    monkeypatch.setattr(RolloutCollector, "collect", spy_collect)
    cfg = PPOConfig(total_timesteps=1024, num_envs=4, num_steps=64, update_epochs=3, num_minibatches=4)
    h = train_ppo("CartPole-v1", cfg, device="cpu", seed=0)
    pairs = [(events[i], events[i + 1]) for i, (kind, _, _) in enumerate(events) if kind == "collect"]
    later = [x for i, (kind, x, _) in enumerate(events) if kind == "loss" and events[i - 1][0] == "loss"]
    assert len(pairs) == len(h["env_steps"]) >= 3
    for (_, _, theta_old), (kind, ratio, theta) in pairs:
        assert kind == "loss"
        assert torch.equal(theta, theta_old)  # exactly: no optimiser step between the rollout and here
        # so the ratio is 1 up to float32 rounding: the rollout evaluated π_θold on B observations at a
        # time, the update evaluates π_θ on a minibatch, and a BLAS may sum in another order for another
        # shape (MKL does on AMD CPUs). A stale or mismatched logp_old is off by far more than 1e-6.
        assert (ratio - 1).abs().max() <= 1e-6, (ratio - 1).abs().max()
    assert any((r - 1).abs().max() > 1e-3 for r in later)   # later minibatches have moved
    assert all(k >= 0 for k in h["approx_kl"])


def test_train_ppo_is_repeatable_and_logs_everything():
    cfg = PPOConfig(total_timesteps=1500, num_envs=2, num_steps=128)
    a = train_ppo("CartPole-v1", cfg, device="cpu", seed=1)
    b = train_ppo("CartPole-v1", cfg, device="cpu", seed=1)
    for key in ("episode_returns", "approx_kl", "clip_frac", "entropy", "policy_loss", "value_loss",
                "explained_variance", "env_steps"):
        assert a[key] == b[key], key
    for key in ("sps", "wall_time", "episode_wall_time", "episode_env_steps", "lr"):
        assert key in a
    assert a["lr"][0] == pytest.approx(cfg.lr) and a["lr"][-1] < cfg.lr        # annealed


def test_reward_scale_scales_training_rewards_not_logged_returns():
    h = train_ppo("CartPole-v1", PPOConfig(total_timesteps=600, num_envs=2, num_steps=150, reward_scale=0.1),
                  device="cpu", seed=0)
    assert h["episode_returns"] == [float(n) for n in h["episode_lengths"]]   # CartPole: return = length
    with pytest.raises(ValueError):
        PPOConfig(reward_scale=0.0)


@pytest.mark.parametrize("env_id", ["Acrobot-v1", "Pendulum-v1"])
def test_train_ppo_runs_on_other_envs(env_id):
    h = train_ppo(env_id, PPOConfig(total_timesteps=1024, num_envs=2, num_steps=256), device="cpu", seed=0)
    assert len(h["env_steps"]) >= 2   # autoreset steps do not count as env steps, so 1024 real steps take 3 rollouts
    assert all(np.isfinite(h[k]).all() for k in ("approx_kl", "entropy", "policy_loss", "value_loss"))


def test_ppo_solves_cartpole():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        solved = solves(train_ppo, PPOConfig())
    finally:
        torch.set_num_threads(threads)
    assert sum(solved) >= 2, solved


# ----------------------------------------------------------------------------------------------
# Each implementation detail is really applied: spies on the training loop, checked independently
# ----------------------------------------------------------------------------------------------
from lmrl_course.rl.rollout import Rollout

SMALL = dict(total_timesteps=1024, num_envs=4, num_steps=64, update_epochs=3, num_minibatches=4)


def spy_loss_calls(monkeypatch):
    calls = []
    real = ppo_module.clipped_surrogate_loss

    def spy(logp_new, logp_old, advantages, clip_coef, mask=None):
        calls.append(advantages.detach().clone())
        return real(logp_new, logp_old, advantages, clip_coef, mask)

    monkeypatch.setattr(ppo_module, "clipped_surrogate_loss", spy)
    return calls


def test_reward_scale_reaches_the_advantages(monkeypatch):
    seen = []
    real = Rollout.advantages_and_returns

    def spy(self, *args, **kwargs):
        seen.append(self.rewards[self.valid].clone())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Rollout, "advantages_and_returns", spy)
    train_ppo("CartPole-v1", PPOConfig(reward_scale=0.1, **SMALL), device="cpu", seed=0)
    assert len(seen) >= 3
    for r in seen:          # CartPole pays 1 per real step: the rewards GAE sees must be 0.1
        torch.testing.assert_close(r, torch.full_like(r, 0.1))


def test_advantages_are_normalised_per_minibatch(monkeypatch):
    calls = spy_loss_calls(monkeypatch)
    train_ppo("CartPole-v1", PPOConfig(**SMALL), device="cpu", seed=0)
    assert len(calls) >= 12
    for adv in calls:        # every minibatch separately: mean 0, std 1
        assert abs(adv.mean().item()) < 1e-5, adv.mean()
        assert adv.std(correction=0).item() == pytest.approx(1.0, abs=1e-4)
    monkeypatch.undo()
    calls = spy_loss_calls(monkeypatch)
    train_ppo("CartPole-v1", PPOConfig(norm_adv=False, **SMALL), device="cpu", seed=0)
    assert max(abs(a.mean().item()) for a in calls) > 0.05        # the raw GAE advantages are not centred


def test_target_kl_stops_the_epochs(monkeypatch):
    counts = {}
    for target_kl in (None, 1e-12):
        monkeypatch.undo()
        calls = spy_loss_calls(monkeypatch)
        h = train_ppo("CartPole-v1", PPOConfig(target_kl=target_kl, **SMALL), device="cpu", seed=0)
        counts[target_kl] = len(calls) / len(h["env_steps"])
    assert counts[None] == SMALL["update_epochs"] * SMALL["num_minibatches"]
    assert counts[1e-12] == SMALL["num_minibatches"]    # any KL > 1e-12: stop after the first epoch


def test_clip_vloss_clips_the_value_loss(monkeypatch):
    for clip_vloss in (True, False):
        monkeypatch.undo()
        seen = []
        real = ppo_module.value_loss

        def spy(values_new, returns, values_old=None, clip_coef=None, mask=None):
            out = real(values_new, returns, values_old, clip_coef, mask)
            seen.append((values_new.detach().clone(), returns.clone(), values_old.clone(), float(out.detach())))
            return out

        monkeypatch.setattr(ppo_module, "value_loss", spy)
        eps = 0.2
        train_ppo("CartPole-v1", PPOConfig(clip_vloss=clip_vloss, clip_coef=eps, **SMALL), device="cpu", seed=0)
        binding = 0
        for v, R, v_old, got in seen:
            plain = 0.5 * ((v - R) ** 2).mean().item()
            v_clip = v_old + (v - v_old).clamp(-eps, eps)
            clipped = 0.5 * torch.max((v - R) ** 2, (v_clip - R) ** 2).mean().item()
            assert got == pytest.approx(clipped if clip_vloss else plain, rel=1e-5)
            binding += clipped > plain * (1 + 1e-3)
        assert binding > 0              # the clip changed the loss on some minibatches


def test_gradient_norm_is_clipped_before_every_step():
    norms = []

    def hook(optimizer, args, kwargs):
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norms.append(torch.sqrt(sum((g.double() ** 2).sum() for g in grads)).item())

    from torch.optim.optimizer import register_optimizer_step_pre_hook
    handle = register_optimizer_step_pre_hook(hook)
    try:
        train_ppo("CartPole-v1", PPOConfig(max_grad_norm=0.05, **SMALL), device="cpu", seed=0)
    finally:
        handle.remove()
    assert len(norms) >= 12
    assert max(norms) <= 0.05 * (1 + 1e-5), max(norms)
    assert np.median(norms) > 0.049       # raw gradients are larger: the clip is active


def test_per_environment_defaults():
    from lmrl_course.rl import ReinforceConfig
    assert PPOConfig.for_env("CartPole-v1") == PPOConfig()
    acro = PPOConfig.for_env("Acrobot-v1")
    assert (acro.solved_threshold, acro.reward_scale) == (-100.0, 0.1) and acro.total_timesteps >= 50_000
    pend = PPOConfig.for_env("Pendulum-v1", lr=5e-4)
    assert pend.solved_threshold == -200.0 and pend.lr == 5e-4 and PPOConfig.pendulum() == PPOConfig.for_env("Pendulum-v1")
    with pytest.warns(UserWarning, match="no documented defaults"):
        assert PPOConfig.for_env("SomethingElse-v0") == PPOConfig()
    assert ReinforceConfig.for_env("CartPole-v1") == ReinforceConfig()


def test_norm_obs_keeps_ratio_one_at_the_first_minibatch(monkeypatch):
    calls = []
    real = ppo_module.clipped_surrogate_loss

    def spy(logp_new, logp_old, advantages, clip_coef, mask=None):
        calls.append(torch.exp(logp_new.detach() - logp_old))
        return real(logp_new, logp_old, advantages, clip_coef, mask)

    monkeypatch.setattr(ppo_module, "clipped_surrogate_loss", spy)
    cfg = PPOConfig(norm_obs=True, total_timesteps=768, num_envs=4, num_steps=64, update_epochs=1, num_minibatches=1)
    h = train_ppo("Acrobot-v1", cfg, device="cpu", seed=0)
    assert len(calls) == len(h["env_steps"]) >= 3
    for ratio in calls:       # one minibatch per update: each is the first; the statistics moved in between
        assert (ratio - 1).abs().max() <= 1e-5
    norm = h["policy"].net[0]
    assert norm.count.item() > 700 and norm.var.max().item() > 1.5     # Acrobot's velocities are not unit-scale
