"""Reward-to-go, GAE and advantage normalisation against brute-force Python loops."""
import math
import random

import pytest
import torch

from lmrl_course.rl.returns import discounted_returns, gae, normalize_advantages



# ---------------- brute-force references (forward sums, plain Python floats) ----------------

def mc_return_bruteforce(rewards, dones, gamma, last_value):
    """G_t = Σ_k γ^(k−t) r_k up to and including the first done at k ≥ t, else + γ^(N−t)·last_value."""
    N = len(rewards)
    out = []
    for t in range(N):
        g, disc = 0.0, 1.0
        ended = False
        for k in range(t, N):
            g += disc * rewards[k]
            disc *= gamma
            if dones[k]:
                ended = True
                break
        if not ended:
            g += disc * last_value
        out.append(g)
    return out


def gae_bruteforce(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Â_t = Σ_{k=t}^{end} (γλ)^(k−t) δ_k, the sum stopping after the first step k ≥ t that is done."""
    N = len(rewards)
    deltas = [rewards[k] + gamma * (0.0 if terminated[k] else next_values[k]) - values[k] for k in range(N)]
    adv = []
    for t in range(N):
        a, w = 0.0, 1.0
        for k in range(t, N):
            a += w * deltas[k]
            w *= gamma * lam
            if terminated[k] or truncated[k]:
                break
        adv.append(a)
    return adv


def random_episode_data(N, seed, p_term=0.15, p_trunc=0.1):
    rng = random.Random(seed)
    rewards = [rng.uniform(-1, 2) for _ in range(N)]
    values = [rng.uniform(-1, 1) for _ in range(N)]
    next_values = [rng.uniform(-1, 1) for _ in range(N)]
    terminated, truncated = [], []
    for _ in range(N):
        u = rng.random()
        terminated.append(u < p_term)
        truncated.append(p_term <= u < p_term + p_trunc)
    return rewards, values, next_values, terminated, truncated


# ---------------- discounted_returns ----------------

@pytest.mark.parametrize("gamma", [0.0, 0.9, 0.99, 1.0])
def test_discounted_returns_matches_bruteforce_1d(device, gamma):
    rewards, _, _, term, trunc = random_episode_data(30, seed=1)
    dones = [a or b for a, b in zip(term, trunc)]
    for last_value in (None, 0.7):
        ref = mc_return_bruteforce(rewards, dones, gamma, 0.0 if last_value is None else last_value)
        got = discounted_returns(torch.tensor(rewards, device=device, dtype=torch.float64),
                                 torch.tensor(dones, device=device), gamma,
                                 None if last_value is None else torch.tensor(last_value, dtype=torch.float64, device=device))
        torch.testing.assert_close(got.cpu(), torch.tensor(ref, dtype=torch.float64))


def test_discounted_returns_batched_equals_per_env():
    N, B, gamma = 25, 4, 0.95
    cols = [random_episode_data(N, seed=10 + b) for b in range(B)]
    rewards = torch.tensor([c[0] for c in cols], dtype=torch.float64).T           # (N, B)
    dones = torch.tensor([[a or b for a, b in zip(c[3], c[4])] for c in cols]).T  # (N, B)
    last = torch.tensor([0.1, -0.2, 0.3, 0.0], dtype=torch.float64)
    got = discounted_returns(rewards, dones, gamma, last)
    for b in range(B):
        ref = mc_return_bruteforce(rewards[:, b].tolist(), dones[:, b].tolist(), gamma, float(last[b]))
        torch.testing.assert_close(got[:, b], torch.tensor(ref, dtype=torch.float64))


def test_discounted_returns_hand_example():
    # r = 1, 1, 1 with the episode ending at t=1: G = [1 + γ, 1, 1 + γ·V_last]
    g = discounted_returns(torch.tensor([1.0, 1.0, 1.0]), torch.tensor([False, True, False]), 0.5, torch.tensor(4.0))
    torch.testing.assert_close(g, torch.tensor([1.5, 1.0, 3.0]))


def test_discounted_returns_bad_input():
    with pytest.raises(TypeError):
        discounted_returns([1.0, 2.0], torch.zeros(2), 0.9)
    with pytest.raises(ValueError):
        discounted_returns(torch.zeros(3), torch.zeros(4), 0.9)
    with pytest.raises(ValueError):
        discounted_returns(torch.zeros(3), torch.zeros(3), 1.5)
    with pytest.raises(ValueError):
        discounted_returns(torch.zeros(3, 2), torch.zeros(3, 2), 0.9, last_value=torch.zeros(3))


# ---------------- GAE ----------------

@pytest.mark.parametrize("gamma,lam", [(0.99, 0.95), (0.9, 0.0), (0.97, 1.0), (1.0, 0.5)])
def test_gae_matches_bruteforce(device, gamma, lam):
    N = 40
    rewards, values, next_values, term, trunc = random_episode_data(N, seed=3)
    ref = gae_bruteforce(rewards, values, next_values, term, trunc, gamma, lam)
    f64 = dict(dtype=torch.float64, device=device)
    adv, ret = gae(torch.tensor(rewards, **f64), torch.tensor(values, **f64), torch.tensor(term, device=device),
                   torch.tensor(trunc, device=device), torch.tensor(next_values, **f64), gamma=gamma, gae_lambda=lam)
    torch.testing.assert_close(adv.cpu(), torch.tensor(ref, dtype=torch.float64))
    torch.testing.assert_close(ret.cpu(), torch.tensor(ref, dtype=torch.float64) + torch.tensor(values, dtype=torch.float64))


def test_gae_batched_equals_per_env():
    N, B, gamma, lam = 30, 3, 0.99, 0.9
    cols = [random_episode_data(N, seed=20 + b) for b in range(B)]
    T = lambda i, dt=torch.float64: torch.tensor([c[i] for c in cols], dtype=dt).T  # noqa: E731  (N, B)
    adv, _ = gae(T(0), T(1), T(3, torch.bool), T(4, torch.bool), T(2), gamma=gamma, gae_lambda=lam)
    for b in range(B):
        ref = gae_bruteforce(*[c for c in (cols[b][0], cols[b][1], cols[b][2], cols[b][3], cols[b][4])], gamma, lam)
        torch.testing.assert_close(adv[:, b], torch.tensor(ref, dtype=torch.float64))


def test_gae_lambda_zero_is_td_error_and_lambda_one_is_return_minus_value():
    N, gamma = 25, 0.95
    rewards, values, next_values, term, trunc = random_episode_data(N, seed=5)
    # consistent layout: inside an episode the next state's value is values[t+1]; only done steps
    # (and the last step) carry their own V(final obs)
    for t in range(N - 1):
        if not (term[t] or trunc[t]):
            next_values[t] = values[t + 1]
    f = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    adv0, _ = gae(f(rewards), f(values), torch.tensor(term), torch.tensor(trunc), f(next_values), gamma=gamma, gae_lambda=0.0)
    td = [rewards[t] + gamma * (0.0 if term[t] else next_values[t]) - values[t] for t in range(N)]
    torch.testing.assert_close(adv0, f(td))
    # λ = 1: Monte-Carlo return, bootstrapped with γ·V(final obs) where truncated and at the rollout end
    adv1, ret1 = gae(f(rewards), f(values), torch.tensor(term), torch.tensor(trunc), f(next_values), gamma=gamma, gae_lambda=1.0)
    G = []
    for t in range(N):
        g, disc = 0.0, 1.0
        for k in range(t, N):
            g += disc * rewards[k]
            disc *= gamma
            if term[k]:
                break
            if trunc[k] or k == N - 1:
                g += disc * next_values[k]
                break
        G.append(g)
    torch.testing.assert_close(ret1, f(G))
    torch.testing.assert_close(adv1, f(G) - f(values))


def test_gae_nothing_propagates_across_terminated():
    N = 12
    rewards, values, next_values, term, trunc = random_episode_data(N, seed=7, p_term=0, p_trunc=0)
    term[5] = True
    f = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    adv_a, _ = gae(f(rewards), f(values), torch.tensor(term), torch.tensor(trunc), f(next_values))
    rewards_b = rewards[:6] + [r + 100.0 for r in rewards[6:]]
    values_b = values[:6] + [v - 50.0 for v in values[6:]]
    adv_b, _ = gae(f(rewards_b), f(values_b), torch.tensor(term), torch.tensor(trunc), f(next_values))
    torch.testing.assert_close(adv_a[:6], adv_b[:6])                   # steps 0..5 don't see the future episode
    assert not torch.allclose(adv_a[6:], adv_b[6:])
    # and the terminal step bootstraps nothing: Â_5 = r_5 − V(s_5)
    assert adv_a[5].item() == pytest.approx(rewards[5] - values[5])


def test_gae_truncation_bootstraps_from_final_observation_value():
    gamma, lam = 0.9, 0.8
    # episode 1 = steps 0, 1 (truncated at 1, its final obs has value 5.0); episode 2 = steps 2, 3.
    rewards = torch.tensor([1.0, 2.0, 3.0, 4.0])
    values = torch.tensor([0.5, 0.25, -1.0, 2.0])
    next_values = torch.tensor([0.25, 5.0, 2.0, 7.0])  # V(s_1), V(final obs), V(s_3), V(after rollout)
    term = torch.tensor([False, False, False, False])
    trunc = torch.tensor([False, True, False, False])
    adv, ret = gae(rewards, values, term, trunc, next_values, gamma=gamma, gae_lambda=lam)
    d1 = 2.0 + gamma * 5.0 - 0.25
    d0 = 1.0 + gamma * 0.25 - 0.5
    d3 = 4.0 + gamma * 7.0 - 2.0
    d2 = 3.0 + gamma * 2.0 - (-1.0)
    expect = torch.tensor([d0 + gamma * lam * d1, d1, d2 + gamma * lam * d3, d3])
    torch.testing.assert_close(adv, expect)
    torch.testing.assert_close(ret, expect + values)
    # the same rollout with the truncation mistaken for termination loses exactly γ·V(final obs) at step 1
    adv_bug, _ = gae(rewards, values, trunc, term, next_values, gamma=gamma, gae_lambda=lam)
    assert (adv[1] - adv_bug[1]).item() == pytest.approx(gamma * 5.0)


def test_gae_last_value_shortcut_equals_shifted_next_values():
    N, B = 10, 2
    g = torch.Generator().manual_seed(0)
    rewards, values = torch.randn(N, B, generator=g), torch.randn(N, B, generator=g)
    term = torch.rand(N, B, generator=g) < 0.2
    trunc = (torch.rand(N, B, generator=g) < 0.2) & ~term
    last = torch.randn(B, generator=g)
    a1, r1 = gae(rewards, values, term, trunc, last_value=last)
    a2, r2 = gae(rewards, values, term, trunc, torch.cat([values[1:], last[None]]))
    torch.testing.assert_close(a1, a2)
    torch.testing.assert_close(r1, r2)


def test_gae_bad_input():
    z = torch.zeros(5)
    with pytest.raises(ValueError, match="next_values"):
        gae(z, z, z.bool(), z.bool())
    with pytest.raises(ValueError):
        gae(z, torch.zeros(4), z.bool(), z.bool(), z)
    with pytest.raises(ValueError):
        gae(z, z, z.bool(), z.bool(), z, gae_lambda=1.5)
    with pytest.raises(TypeError):
        gae(torch.zeros(5, dtype=torch.long), z, z.bool(), z.bool(), z)


# ---------------- normalisation ----------------

def test_normalize_advantages_mean_zero_std_one():
    g = torch.Generator().manual_seed(0)
    x = 3.0 + 7.0 * torch.randn(1000, generator=g, dtype=torch.float64)
    y = normalize_advantages(x)
    assert abs(y.mean().item()) < 1e-10
    assert y.std(correction=0).item() == pytest.approx(1.0, abs=1e-6)
    # order is preserved (a monotone map)
    assert torch.equal(torch.argsort(x), torch.argsort(y))


def test_normalize_advantages_batch_of_one_and_constant_batch_give_zero_not_nan():
    for x in (torch.tensor([3.5]), torch.full((7,), 2.0)):
        y = normalize_advantages(x)
        assert torch.isfinite(y).all()
        assert torch.equal(y, torch.zeros_like(x))


def test_normalize_advantages_bad_input():
    with pytest.raises(ValueError):
        normalize_advantages(torch.zeros(0))
    with pytest.raises(TypeError):
        normalize_advantages(torch.arange(3))
    assert math.isfinite(normalize_advantages(torch.tensor([1.0, 2.0]))[0].item())
