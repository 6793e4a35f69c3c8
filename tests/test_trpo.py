"""TRPO: Fisher-vector products vs an explicit Fisher matrix, CG vs a direct solve, the trust region."""
import copy

import numpy as np
import pytest
import torch
from torch.func import functional_call
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from lmrl_course.rl.envs import make_vector_env
from lmrl_course.rl.policies import CategoricalPolicy, GaussianPolicy, ValueNetwork
from lmrl_course.rl.returns import normalize_advantages
from lmrl_course.rl.rollout import RolloutCollector
from lmrl_course.rl.trpo import (TRPOConfig, backtracking_line_search, conjugate_gradient, fisher_vector_product,
                                 flat_grad, train_trpo, trpo_update, trust_region_step_size)
from test_reinforce import solves


def tiny_policy(kind="categorical"):
    torch.manual_seed(0)
    if kind == "categorical":
        pi = CategoricalPolicy(3, 3, hidden=(4,)).double()
        for p in pi.parameters():                 # move away from the near-uniform init
            p.data.normal_(0, 0.7)
    else:
        pi = GaussianPolicy(3, 2, hidden=(4,)).double()
        for p in pi.parameters():
            p.data.normal_(0, 0.5)
    obs = torch.randn(5, 3, dtype=torch.float64)
    return pi, obs


def explicit_fisher_categorical(pi, obs):
    """F = mean_s Σ_a π(a|s) ∇log π(a|s) ∇log π(a|s)ᵀ, one gradient at a time."""
    params = list(pi.parameters())
    P = sum(p.numel() for p in params)
    F = torch.zeros(P, P, dtype=torch.float64)
    for s in range(obs.shape[0]):
        logp = torch.log_softmax(pi(obs[s:s + 1])[0], -1)
        for a in range(logp.shape[0]):
            g = torch.cat([x.reshape(-1) for x in torch.autograd.grad(logp[a], params, retain_graph=True)])
            F += logp[a].exp().item() * torch.outer(g, g)
    return F / obs.shape[0]


def kl_hessian(pi, obs):
    """∇²_θ mean KL(π_θ0 ‖ π_θ) at θ0 by torch.autograd.functional.hessian over the flat parameters."""
    names = [n for n, _ in pi.named_parameters()]
    shapes = [p.shape for _, p in pi.named_parameters()]
    theta0 = parameters_to_vector(pi.parameters()).detach().clone()
    with torch.no_grad():
        old = pi.distribution(obs)

    def kl_of(flat):
        chunks, i = {}, 0
        for n, shp in zip(names, shapes):
            k = int(np.prod(shp))
            chunks[n] = flat[i:i + k].reshape(shp)
            i += k
        new = functional_call(pi, chunks, (obs,), strict=False)
        if isinstance(pi, CategoricalPolicy):
            lp_old, lp_new = torch.log_softmax(old.logits, -1), torch.log_softmax(new, -1)
            return (lp_old.exp() * (lp_old - lp_new)).sum(-1).mean()
        # diagonal Gaussians, closed form: Σ_i log(σ_new/σ_old) + (σ_old² + (μ_old − μ_new)²)/(2σ_new²) − ½
        mu_old, s_old = old.base_dist.loc, old.base_dist.scale
        s_new = chunks["log_std"].exp().expand_as(new)
        return (torch.log(s_new / s_old) + (s_old ** 2 + (mu_old - new) ** 2) / (2 * s_new ** 2) - 0.5).sum(-1).mean()

    return torch.autograd.functional.hessian(kl_of, theta0)


def test_fvp_equals_explicit_fisher_times_v_categorical():
    pi, obs = tiny_policy("categorical")
    F = explicit_fisher_categorical(pi, obs)
    H = kl_hessian(pi, obs)
    torch.testing.assert_close(F, H, atol=1e-10, rtol=1e-8)        # Fisher = Hessian of KL, two ways
    g = torch.Generator().manual_seed(1)
    for damping in (0.0, 0.1):
        v = torch.randn(F.shape[0], generator=g, dtype=torch.float64)
        Fv = fisher_vector_product(pi, obs, v, damping=damping)
        torch.testing.assert_close(Fv, F @ v + damping * v, atol=1e-10, rtol=1e-8)


def test_fvp_equals_kl_hessian_times_v_gaussian():
    pi, obs = tiny_policy("gaussian")
    H = kl_hessian(pi, obs)
    v = torch.randn(H.shape[0], generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    torch.testing.assert_close(fisher_vector_product(pi, obs, v), H @ v, atol=1e-10, rtol=1e-8)


def test_conjugate_gradient_matches_linalg_solve():
    g = torch.Generator().manual_seed(0)
    Q = torch.randn(20, 20, generator=g, dtype=torch.float64)
    A = Q.T @ Q + 0.5 * torch.eye(20, dtype=torch.float64)
    b = torch.randn(20, generator=g, dtype=torch.float64)
    x = conjugate_gradient(lambda v: A @ v, b, iters=60, tol=1e-24)
    torch.testing.assert_close(x, torch.linalg.solve(A, b), atol=1e-8, rtol=1e-7)
    # CG on the damped Fisher of a tiny policy, via FVP, vs a direct solve of (F + dI) x = g
    pi, obs = tiny_policy("categorical")
    F = explicit_fisher_categorical(pi, obs)
    rhs = torch.randn(F.shape[0], generator=g, dtype=torch.float64)
    x = conjugate_gradient(lambda v: fisher_vector_product(pi, obs, v, damping=0.1), rhs, iters=200, tol=1e-26)
    torch.testing.assert_close(x, torch.linalg.solve(F + 0.1 * torch.eye(F.shape[0], dtype=torch.float64), rhs),
                               atol=1e-7, rtol=1e-6)
    with pytest.raises(ValueError):
        conjugate_gradient(lambda v: v, b, iters=0)


def test_step_size_puts_quadratic_kl_on_the_boundary():
    pi, obs = tiny_policy("categorical")
    F = explicit_fisher_categorical(pi, obs)
    s = torch.randn(F.shape[0], generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    beta = trust_region_step_size(s, F @ s, max_kl=0.01)
    assert 0.5 * beta ** 2 * float(s @ F @ s) == pytest.approx(0.01)
    assert trust_region_step_size(s, torch.zeros_like(s), 0.01) == 0.0


def test_flat_grad_matches_autograd():
    pi, obs = tiny_policy("categorical")
    y = pi(obs).pow(2).sum()
    fg = flat_grad(y, pi.parameters(), retain_graph=True)
    ref = torch.cat([g.reshape(-1) for g in torch.autograd.grad(y, list(pi.parameters()))])
    torch.testing.assert_close(fg, ref)
    with pytest.raises(ValueError):
        flat_grad(pi(obs), pi.parameters())


def cartpole_batch(pi, v, seed, steps=64):
    envs = make_vector_env("CartPole-v1", 4, seed=seed)
    r = RolloutCollector(envs, pi, v, device="cpu", seed=seed).collect(steps)
    adv, ret = r.advantages_and_returns(0.99, 0.97)
    b = r.flatten(advantages=adv, returns=ret)
    envs.close()
    return b["obs"], b["actions"], normalize_advantages(b["advantages"])


def kl_and_surrogate(old_pi, new_pi, obs, actions, adv):
    """Independent reference: explicit softmax KL(old ‖ new) and mean(ratio · Â)."""
    with torch.no_grad():
        lp_old, lp_new = torch.log_softmax(old_pi(obs), -1), torch.log_softmax(new_pi(obs), -1)
        kl = (lp_old.exp() * (lp_old - lp_new)).sum(-1).mean().item()
        ratio = (lp_new - lp_old).gather(1, actions[:, None]).squeeze(1).exp()
        return kl, (ratio * adv).mean().item(), (adv.mean().item())


@pytest.mark.parametrize("max_kl", [0.001, 0.01, 0.05])
def test_every_update_respects_trust_region_or_keeps_params(max_kl):
    torch.manual_seed(0)
    pi, v = CategoricalPolicy(4, 2), ValueNetwork(4)
    for it in range(3):
        obs, actions, adv = cartpole_batch(pi, v, seed=it)
        old = copy.deepcopy(pi)
        info = trpo_update(pi, obs, actions, adv, max_kl=max_kl)
        kl, surr_new, surr_old = kl_and_surrogate(old, pi, obs, actions, adv)
        changed = not all(torch.equal(p, q) for p, q in zip(old.parameters(), pi.parameters()))
        if info["accepted"]:
            assert changed
            assert kl <= max_kl + 1e-7, (kl, max_kl)
            assert surr_new > surr_old
            assert info["kl"] == pytest.approx(kl, rel=1e-3, abs=1e-7)
        else:
            assert not changed


def test_line_search_rejects_a_step_that_makes_the_surrogate_worse():
    torch.manual_seed(0)
    pi = CategoricalPolicy(4, 2)
    obs, actions, adv = cartpole_batch(pi, None, seed=0)
    with torch.no_grad():
        lp_old = pi.distribution(obs).log_prob(actions)
    surr = (torch.exp(pi.distribution(obs).log_prob(actions) - lp_old) * adv).mean()
    g = flat_grad(surr, pi.parameters())
    before = parameters_to_vector(pi.parameters()).detach().clone()

    def evaluate():
        d = pi.distribution(obs)
        return float((torch.exp(d.log_prob(actions) - lp_old) * adv).mean()), 0.0

    info = backtracking_line_search(pi, evaluate, -1e-3 * g / g.norm(), max_kl=0.01)   # downhill only
    assert not info["accepted"]
    assert torch.equal(parameters_to_vector(pi.parameters()), before)
    info = backtracking_line_search(pi, evaluate, 1e-3 * g / g.norm(), max_kl=0.01)    # uphill: accepted
    assert info["accepted"] and info["backtracks"] == 0


def explicit_kl(old_logits, new_logits):
    """Independent reference: mean_s Σ_a p_old (log p_old − log p_new), from the logits."""
    lp_old, lp_new = torch.log_softmax(old_logits, -1), torch.log_softmax(new_logits, -1)
    return (lp_old.exp() * (lp_old - lp_new)).sum(-1).mean().item()


def kl_violating_batch(seed):
    """A 3-8-3 float64 policy with spread-out weights, 64 states, sampled actions, random advantages."""
    torch.manual_seed(seed)
    pi = CategoricalPolicy(3, 3, hidden=(8,)).double()
    for p in pi.parameters():
        p.data.normal_(0, 0.7)
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(64, 3, generator=g, dtype=torch.float64)
    with torch.no_grad():
        logits = pi(obs)
    actions = torch.multinomial(logits.softmax(-1), 1, generator=g)[:, 0]
    return pi, obs, actions, torch.randn(64, generator=g, dtype=torch.float64)


def surrogate_at(pi, theta, obs, actions, adv, logits_old):
    """mean(π_θ(a|s)/π_old(a|s) · Â) and the exact KL̄ at the flat parameters ``theta``, from scratch."""
    vector_to_parameters(theta, pi.parameters())
    with torch.no_grad():
        logits = pi(obs)
    ratio = (torch.log_softmax(logits, -1) - torch.log_softmax(logits_old, -1)).gather(1, actions[:, None])[:, 0].exp()
    return (ratio * adv).mean().item(), explicit_kl(logits_old, logits)


@pytest.mark.parametrize("seed, max_kl", [(1, 0.05), (1, 0.2), (2, 0.05), (2, 0.5)])
def test_line_search_backtracks_when_the_full_step_breaks_the_kl_constraint(seed, max_kl):
    """Without damping the quadratic model under-predicts the KL here: the full natural step has an exact
    KL̄ several times δ. The update must backtrack to the FIRST fraction 0.8ʲ whose exact KL̄ ≤ δ and whose
    surrogate improved (brute force over j), and end with exact KL̄ ≤ δ."""
    pi, obs, actions, adv = kl_violating_batch(seed)
    with torch.no_grad():
        logits_old = pi(obs)
    theta0 = parameters_to_vector(pi.parameters()).detach().clone()
    info = trpo_update(pi, obs, actions, adv, max_kl=max_kl, damping=0.0, cg_iters=10, backtrack_coef=0.8)
    theta1 = parameters_to_vector(pi.parameters()).detach().clone()
    assert info["accepted"] and info["backtracks"] >= 1, info
    full_step = (theta1 - theta0) / info["step_frac"]                       # θ1 − θ0 = 0.8ʲ · full step
    assert info["step_frac"] == pytest.approx(0.8 ** info["backtracks"])
    surr0, _ = surrogate_at(pi, theta0, obs, actions, adv, logits_old)
    trials = [surrogate_at(pi, theta0 + 0.8 ** j * full_step, obs, actions, adv, logits_old) for j in range(10)]
    vector_to_parameters(theta1, pi.parameters())
    assert trials[0][1] > 2 * max_kl, trials[0]                          # the full step really violates δ
    first_ok = next(j for j, (surr, kl) in enumerate(trials) if kl <= max_kl and surr > surr0)
    assert info["backtracks"] == first_ok
    with torch.no_grad():
        kl_taken = explicit_kl(logits_old, pi(obs))
    assert kl_taken <= max_kl, (kl_taken, max_kl)
    assert info["kl"] == pytest.approx(kl_taken, rel=1e-9)


def test_backtracking_line_search_rejects_steps_outside_the_trust_region():
    """A step along the policy gradient whose exact KL̄ is far above δ at every fraction is never accepted,
    even though it improves the surrogate; θ_old is restored exactly."""
    pi, obs, actions, adv = kl_violating_batch(1)
    with torch.no_grad():
        logits_old = pi(obs)
    theta0 = parameters_to_vector(pi.parameters()).detach().clone()
    dist = pi.distribution(obs)
    lp_old = dist.log_prob(actions).detach()
    g = flat_grad((torch.exp(dist.log_prob(actions) - lp_old) * adv).mean(), pi.parameters())
    step = 30.0 * g / g.norm()

    def evaluate():
        surr, kl = surrogate_at(pi, parameters_to_vector(pi.parameters()).detach(), obs, actions, adv, logits_old)
        return surr, kl

    surr0, _ = surrogate_at(pi, theta0, obs, actions, adv, logits_old)
    trials = [surrogate_at(pi, theta0 + 0.8 ** j * step, obs, actions, adv, logits_old) for j in range(4)]
    vector_to_parameters(theta0, pi.parameters())
    assert all(kl > 0.01 and surr > surr0 for surr, kl in trials), (surr0, trials)   # only the KL can reject
    info = backtracking_line_search(pi, evaluate, step, max_kl=0.01, max_backtracks=4)
    assert not info["accepted"], info
    assert torch.equal(parameters_to_vector(pi.parameters()), theta0)


def test_the_two_line_search_mistakes_do_what_notebook_06_says():
    """"none" takes the full step βs (whatever its KL); "no_restore" ends at the last candidate 0.8⁹·βs when
    every candidate fails. Reference: the step the correct version reconstructs, KL by explicit softmax."""
    pi, obs, actions, adv = kl_violating_batch(1)
    with torch.no_grad():
        logits_old = pi(obs)
    theta0 = parameters_to_vector(pi.parameters()).detach().clone()
    ref = copy.deepcopy(pi)
    info = trpo_update(ref, obs, actions, adv, max_kl=0.05, damping=0.0)
    full_step = (parameters_to_vector(ref.parameters()).detach() - theta0) / info["step_frac"]
    info = trpo_update(pi, obs, actions, adv, max_kl=0.05, damping=0.0, line_search="none")
    torch.testing.assert_close(parameters_to_vector(pi.parameters()).detach(), theta0 + full_step)
    with torch.no_grad():
        assert info["kl"] == pytest.approx(explicit_kl(logits_old, pi(obs)), rel=1e-9) and info["kl"] > 0.1
    # every candidate fails when the surrogate can only get worse: step downhill, max_kl generous
    vector_to_parameters(theta0, pi.parameters())
    _, kl_down = surrogate_at(pi, theta0 - 0.8 ** 9 * full_step, obs, actions, adv, logits_old)
    vector_to_parameters(theta0, pi.parameters())

    def evaluate():
        return surrogate_at(pi, parameters_to_vector(pi.parameters()).detach(), obs, actions, adv, logits_old)

    info = backtracking_line_search(pi, evaluate, -full_step, max_kl=1.0, restore=False)
    assert not info["accepted"]
    torch.testing.assert_close(parameters_to_vector(pi.parameters()).detach(), theta0 - 0.8 ** 9 * full_step)
    assert info["kl"] == pytest.approx(kl_down, rel=1e-9)
    with pytest.raises(ValueError, match="line_search"):
        trpo_update(pi, obs, actions, adv, line_search="skip")
    with pytest.raises(ValueError, match="line_search"):
        TRPOConfig(line_search="off")


def test_train_trpo_is_repeatable():
    cfg = TRPOConfig(total_timesteps=1500, num_envs=2, num_steps=128)
    a = train_trpo("CartPole-v1", cfg, device="cpu", seed=2)
    b = train_trpo("CartPole-v1", cfg, device="cpu", seed=2)
    for key in ("episode_returns", "kl", "improvement", "value_loss", "env_steps"):
        assert a[key] == b[key], key
    assert all(k <= cfg.max_kl for k in a["kl"])


def test_trpo_config_validation():
    with pytest.raises(ValueError):
        TRPOConfig(max_kl=0.0)
    with pytest.raises(ValueError):
        TRPOConfig(cg_iters=0)


def test_trpo_solves_cartpole():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        solved = solves(train_trpo, TRPOConfig())
    finally:
        torch.set_num_threads(threads)
    assert sum(solved) >= 2, solved
