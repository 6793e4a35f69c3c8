"""The RL exercises (notebooks 04-07): each checker accepts the reference and its written solution, and
rejects deliberately wrong versions with a message that points at the mistake.

References are checked against independent computations here too (autograd, brute force, a direct
linear solve), so a wrong reference cannot make its own checker pass.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Categorical, kl_divergence

from lmrl_course.exercises import FAIL, NOT_ATTEMPTED, PASS, check, get_exercise, reference

RL_EXERCISES = ["score_function_gradient", "score_function_gradient_with_baseline", "reward_to_go", "reinforce_loss",
                "fisher_vector_product", "conjugate_gradient", "ppo_clipped_loss", "gae"]


def solution_function(name):
    """The function defined by the registered solution text, run in a notebook-like namespace."""
    ns = {"torch": torch, "F": F, "math": math, "Categorical": Categorical, "kl_divergence": kl_divergence}
    exec(get_exercise(name).solution, ns)
    return ns[name]


@pytest.mark.parametrize("name", RL_EXERCISES)
def test_reference_and_solution_pass(name):
    assert check(name, reference(name)).status == PASS
    result = check(name, solution_function(name))
    assert result.status == PASS, result.message
    assert len(get_exercise(name).hints) >= 2


@pytest.mark.parametrize("name", RL_EXERCISES)
def test_not_attempted(name):
    def stub(*args, **kwargs):
        raise NotImplementedError

    assert check(name, stub).status == NOT_ATTEMPTED


def assert_fails(name, fn, *fragments):
    result = check(name, fn)
    assert result.status == FAIL, f"{name}: a wrong version passed"
    for fragment in fragments:
        assert fragment in result.message, result.message
    return result


# ------------------------------------------------------------------------ independent references

def test_score_function_gradient_reference_matches_autograd():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, generator=g)
    actions = torch.randint(0, 4, (50,), generator=g)
    rewards = torch.rand(50, generator=g)
    z = logits.clone().requires_grad_(True)
    (rewards * torch.log_softmax(z, -1)[actions]).mean().backward()
    torch.testing.assert_close(reference("score_function_gradient")(logits, actions, rewards), z.grad)


def test_score_function_gradient_is_unbiased_for_the_exact_bandit_gradient():
    g = torch.Generator().manual_seed(1)
    logits, means = torch.tensor([0.3, -0.2, 0.1]), torch.tensor([0.2, 0.5, 0.8])
    p = torch.softmax(logits, -1)
    exact = p * (means - (p * means).sum())
    actions = torch.multinomial(p, 200_000, replacement=True, generator=g)
    est = reference("score_function_gradient")(logits, actions, means[actions])   # expected rewards: less noise
    torch.testing.assert_close(est, exact, atol=3e-3, rtol=0)


def test_reward_to_go_reference_matches_brute_force():
    g = torch.Generator().manual_seed(2)
    r = torch.rand(9, generator=g)
    done = torch.zeros(9, dtype=torch.bool)
    done[4] = True
    gamma = 0.9
    out = reference("reward_to_go")(r, done, gamma, torch.tensor(3.0))
    for t in range(9):
        end = 4 if t <= 4 else 8
        G = sum(gamma ** (k - t) * r[k].item() for k in range(t, end + 1))
        if t > 4:
            G += gamma ** (9 - t) * 3.0       # bootstrap after the last step
        assert abs(out[t].item() - G) < 1e-5


def test_gae_reference_matches_brute_force_sum_of_td_errors():
    g = torch.Generator().manual_seed(3)
    N, gamma, lam = 7, 0.97, 0.9
    r, v = torch.rand(N, generator=g), torch.rand(N, generator=g)
    term = torch.zeros(N, dtype=torch.bool)
    trunc = torch.zeros(N, dtype=torch.bool)
    term[2] = True
    trunc[4] = True
    last = torch.tensor(0.7)
    adv, ret = reference("gae")(r, v, term, trunc, last, gamma, lam)
    nxt = torch.cat([v[1:], last[None]])
    delta = r + gamma * (~term).float() * nxt - v
    ends = [2, 4, N - 1]
    for t in range(N):
        end = min(e for e in ends if e >= t)
        A = sum((gamma * lam) ** (k - t) * delta[k].item() for k in range(t, end + 1))
        assert abs(adv[t].item() - A) < 1e-5
    torch.testing.assert_close(ret, adv + v)


def test_clipped_loss_reference_matches_a_brute_force_loop():
    logp_old = torch.tensor([-1.0, -0.5, -2.0, -0.1])
    logp_new = torch.tensor([-0.2, -1.5, -2.05, -0.1])
    adv = torch.tensor([1.0, -2.0, 0.5, 3.0])
    total = 0.0
    for ln, lo, a in zip(logp_new.tolist(), logp_old.tolist(), adv.tolist()):
        ratio = math.exp(ln - lo)
        total += min(ratio * a, min(max(ratio, 0.8), 1.2) * a)
    assert abs(reference("ppo_clipped_loss")(logp_new, logp_old, adv, 0.2).item() + total / 4) < 1e-6


def test_conjugate_gradient_reference_matches_a_direct_solve():
    g = torch.Generator().manual_seed(4)
    M = torch.randn(12, 12, generator=g, dtype=torch.float64)
    A = M @ M.T + 12 * torch.eye(12, dtype=torch.float64)
    b = torch.randn(12, generator=g, dtype=torch.float64)
    x = reference("conjugate_gradient")(lambda v: A @ v, b, iters=12)
    torch.testing.assert_close(x, torch.linalg.solve(A, b), atol=1e-5, rtol=1e-5)   # CG stops at rᵀr < 1e-10


def test_fisher_vector_product_reference_matches_explicit_hessian():
    from lmrl_course.rl import CategoricalPolicy
    from torch.nn.utils import parameters_to_vector, vector_to_parameters

    torch.manual_seed(5)
    policy = CategoricalPolicy(2, 3, hidden=(3,))
    obs = torch.randn(5, 2)
    params = list(policy.parameters())
    theta0 = parameters_to_vector(params).detach().clone()
    old = Categorical(logits=policy(obs).detach())

    def kl(theta):
        W1, b1, W2, b2 = torch.split(theta, [6, 3, 9, 3])
        logits = torch.tanh(obs @ W1.view(3, 2).T + b1) @ W2.view(3, 3).T + b2
        return kl_divergence(old, Categorical(logits=logits)).mean()

    H = torch.autograd.functional.hessian(kl, theta0)
    vector_to_parameters(theta0, params)
    v = torch.randn(theta0.numel())
    torch.testing.assert_close(reference("fisher_vector_product")(policy, obs, v, damping=0.1), H @ v + 0.1 * v,
                               atol=1e-5, rtol=1e-4)


# ------------------------------------------------------------------------ wrong versions

def sfg_sum(logits, actions, rewards):             # sum instead of mean
    probs = torch.softmax(logits, -1)
    return (rewards[:, None] * (F.one_hot(actions, logits.shape[-1]).to(logits.dtype) - probs)).sum(0)


def sfg_no_softmax_term(logits, actions, rewards):  # forgets the −softmax(z) part of the score
    return (rewards[:, None] * F.one_hot(actions, logits.shape[-1]).to(logits.dtype)).mean(0)


def sfg_probs_not_logprobs(logits, actions, rewards):   # gradient of π instead of log π
    z = logits.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (rewards * torch.softmax(z, -1)[actions]).mean().backward()
    return z.grad


def sfg_float32(logits, actions, rewards):           # drops float64
    probs = torch.softmax(logits.float(), -1)
    return (rewards.float()[:, None] * (F.one_hot(actions, logits.shape[-1]).float() - probs)).mean(0)


def sfg_naive_softmax(logits, actions, rewards):     # overflows for large logits
    e = logits.exp()
    probs = e / e.sum()
    return (rewards[:, None] * (F.one_hot(actions, logits.shape[-1]).to(logits.dtype) - probs)).mean(0)


@pytest.mark.parametrize("fn, fragments", [
    (sfg_sum, ["case 1/6 (3 arms, 8 samples)", "differs from the reference"]),
    (sfg_no_softmax_term, ["case 1/6", "max abs error"]),
    (sfg_probs_not_logprobs, ["case 1/6", "differs from the reference"]),
    (sfg_float32, ["float64 logits and rewards: keep the dtype", "has dtype torch.float32, expected torch.float64"]),
    (sfg_naive_softmax, ["large logits (120, -50, 0)", "contains nan"]),
])
def test_score_function_gradient_rejects(fn, fragments):
    assert_fails("score_function_gradient", fn, *fragments)


def sfgb_subtract_from_gradient(logits, actions, rewards, baseline):
    return reference("score_function_gradient")(logits, actions, rewards) - baseline


def sfgb_ignores_baseline(logits, actions, rewards, baseline):
    return reference("score_function_gradient")(logits, actions, rewards)


def sfgb_batch_mean_instead(logits, actions, rewards, baseline):
    return reference("score_function_gradient")(logits, actions, rewards - rewards.mean())


def sfgb_wrong_sign(logits, actions, rewards, baseline):
    return reference("score_function_gradient")(logits, actions, rewards + baseline)


@pytest.mark.parametrize("fn", [sfgb_subtract_from_gradient, sfgb_ignores_baseline, sfgb_batch_mean_instead,
                                sfgb_wrong_sign])
def test_baseline_rejects(fn):
    assert_fails("score_function_gradient_with_baseline", fn, "differs from the reference")


def rtg_forward(rewards, dones, gamma, last_value=None):     # sums rewards of the past instead of the future
    done = dones.to(rewards.dtype)
    running = torch.zeros_like(rewards[0])
    out = torch.zeros_like(rewards)
    for t in range(rewards.shape[0]):
        running = rewards[t] + gamma * running
        out[t] = running
        running = running * (1 - done[t])
    return out


def rtg_ignores_dones(rewards, dones, gamma, last_value=None):
    running = torch.zeros_like(rewards[0]) if last_value is None else last_value.to(rewards.dtype)
    out = torch.zeros_like(rewards)
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


def rtg_no_bootstrap(rewards, dones, gamma, last_value=None):
    return reference("reward_to_go")(rewards, dones, gamma)


def rtg_bootstraps_through_final_done(rewards, dones, gamma, last_value=None):   # applies done one step late
    done = dones.to(rewards.dtype)
    running = torch.zeros_like(rewards[0]) if last_value is None else last_value.to(rewards.dtype)
    out = torch.zeros_like(rewards)
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * running
        out[t] = running
        running = running * (1 - done[t - 1]) if t > 0 else running
    return out


@pytest.mark.parametrize("fn, fragment", [
    (rtg_forward, "case 1/10 (5 rewards, no episode end"),
    (rtg_ignores_dones, "case 3/10 (an episode ends at step 2"),
    (rtg_no_bootstrap, "case 7/10 (bootstrap: last_value"),
    (rtg_bootstraps_through_final_done, "case 8/10 (last_value is ignored where the last step is done)"),
])
def test_reward_to_go_rejects(fn, fragment):
    assert_fails("reward_to_go", fn, fragment)


@pytest.mark.parametrize("fn, fragments", [
    (lambda logp, adv: (logp * adv.detach()).mean(), ["case 1/5", "differs from the reference"]),            # sign
    (lambda logp, adv: -(logp * adv.detach()).sum(), ["case 1/5", "differs from the reference"]),            # sum
    (lambda logp, adv: -(logp * adv).mean(), ["the gradient with respect to advantages differs from the reference"]),                  # no detach
    (lambda logp, adv: -(logp.exp() * adv.detach()).mean(), ["case 1/5", "differs from the reference"]),     # probs
    (lambda logp, adv: -(logp.detach() * adv.detach()).mean(), ["no gradient path"]),                      # no grad
])
def test_reinforce_loss_rejects(fn, fragments):
    assert_fails("reinforce_loss", fn, *fragments)


def ppo_clamp_only(logp_new, logp_old, advantages, clip_coef=0.2):        # no min: clips both sides
    ratio = torch.exp(logp_new - logp_old.detach())
    return -(torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef) * advantages.detach()).mean()


def ppo_max(logp_new, logp_old, advantages, clip_coef=0.2):              # optimistic max instead of min
    ratio = torch.exp(logp_new - logp_old.detach())
    a = advantages.detach()
    return -torch.max(ratio * a, torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef) * a).mean()


def ppo_ratio_not_exp(logp_new, logp_old, advantages, clip_coef=0.2):   # ratio = logp_new − logp_old
    ratio = logp_new - logp_old.detach()
    a = advantages.detach()
    return -torch.min(ratio * a, torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef) * a).mean()


def ppo_positive(logp_new, logp_old, advantages, clip_coef=0.2):         # returns the objective, not the loss
    return -reference("ppo_clipped_loss")(logp_new, logp_old, advantages, clip_coef)


def ppo_grad_through_old(logp_new, logp_old, advantages, clip_coef=0.2):   # no detach of logp_old
    ratio = torch.exp(logp_new - logp_old)
    a = advantages.detach()
    return -torch.min(ratio * a, torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef) * a).mean()


@pytest.mark.parametrize("fn, fragment", [
    (ppo_clamp_only, "ratios far from 1"),
    (ppo_max, "ratios far from 1"),
    (ppo_ratio_not_exp, "case 1/7"),
    (ppo_positive, "case 1/7"),
    (ppo_grad_through_old, "the gradient with respect to logp_old differs"),
])
def test_ppo_clipped_loss_rejects(fn, fragment):
    assert_fails("ppo_clipped_loss", fn, fragment)


def gae_truncation_as_termination(rewards, values, terminated, truncated, last_value, gamma=0.99, gae_lambda=0.95):
    return reference("gae")(rewards, values, terminated | truncated, torch.zeros_like(truncated), last_value,
                            gamma, gae_lambda)


def gae_flows_across_truncation(rewards, values, terminated, truncated, last_value, gamma=0.99, gae_lambda=0.95):
    term = terminated.to(rewards.dtype)
    nxt = torch.cat([values[1:], last_value.unsqueeze(0).to(values.dtype)])
    deltas = rewards + gamma * (1 - term) * nxt - values
    adv = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = deltas[t] + gamma * gae_lambda * (1 - term[t]) * running      # only terminated stops it
        adv[t] = running
    return adv, adv + values


def gae_returns_wrong(rewards, values, terminated, truncated, last_value, gamma=0.99, gae_lambda=0.95):
    adv, _ = reference("gae")(rewards, values, terminated, truncated, last_value, gamma, gae_lambda)
    return adv, adv                                                             # forgot + values


def gae_no_lambda(rewards, values, terminated, truncated, last_value, gamma=0.99, gae_lambda=0.95):
    return reference("gae")(rewards, values, terminated, truncated, last_value, gamma, 1.0)


@pytest.mark.parametrize("fn, fragment", [
    (gae_truncation_as_termination, "truncated at step 2: bootstrap"),
    (gae_flows_across_truncation, "truncated at step 2"),
    (gae_returns_wrong, "output[1]"),
    (gae_no_lambda, "case 1/9"),
])
def test_gae_rejects(fn, fragment):
    assert_fails("gae", fn, fragment)


def cg_no_tol_check(Avp, b, iters=10, tol=1e-10):       # 0/0 on b = 0
    x, r, p = torch.zeros_like(b), b.clone(), b.clone()
    rr = r @ r
    for _ in range(iters):
        Ap = Avp(p)
        alpha = rr / (p @ Ap)
        x = x + alpha * p
        r = r - alpha * Ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def cg_steepest_descent(Avp, b, iters=10, tol=1e-10):   # no conjugation: p = r
    x, r = torch.zeros_like(b), b.clone()
    for _ in range(iters):
        rr = r @ r
        if rr < tol:
            break
        Ar = Avp(r)
        alpha = rr / (r @ Ar)
        x = x + alpha * r
        r = r - alpha * Ar
    return x


def cg_wrong_beta(Avp, b, iters=10, tol=1e-10):         # β = rr / rr_new (inverted)
    x, r, p = torch.zeros_like(b), b.clone(), b.clone()
    rr = r @ r
    for _ in range(iters):
        if rr < tol:
            break
        Ap = Avp(p)
        alpha = rr / (p @ Ap)
        x = x + alpha * p
        r = r - alpha * Ap
        rr_new = r @ r
        p = r + (rr / rr_new) * p
        rr = rr_new
    return x


def cg_returns_residual(Avp, b, iters=10, tol=1e-10):
    x = reference("conjugate_gradient")(Avp, b, iters, tol)
    return b - Avp(x)


@pytest.mark.parametrize("fn, fragment", [
    (cg_no_tol_check, "contains nan"),
    (cg_steepest_descent, "case 1/7"),
    (cg_wrong_beta, "case 1/7"),
    (cg_returns_residual, "case 1/7"),
])
def test_conjugate_gradient_rejects(fn, fragment):
    assert_fails("conjugate_gradient", fn, fragment)


def fvp_no_damping(policy, obs, v, damping=0.0):
    return reference("fisher_vector_product")(policy, obs, v, 0.0)


def fvp_gradient_not_hessian(policy, obs, v, damping=0.0):    # first derivative only: ∇KL̄ = 0 at θ_old
    params = list(policy.parameters())
    dist = policy.distribution(obs)
    kl = kl_divergence(Categorical(logits=dist.logits.detach()), dist).mean()
    g = torch.autograd.grad(kl, params)
    return torch.cat([x.reshape(-1) for x in g]) + damping * v


def fvp_sum_over_states(policy, obs, v, damping=0.0):   # Σ over states instead of the mean
    params = list(policy.parameters())
    dist = policy.distribution(obs)
    old = Categorical(logits=dist.logits.detach())
    kl = kl_divergence(old, dist).sum()
    g = torch.cat([x.reshape(-1) for x in torch.autograd.grad(kl, params, create_graph=True)])
    Fv = torch.autograd.grad(g @ v, params)
    return torch.cat([x.reshape(-1) for x in Fv]) + damping * v


def fvp_outer_product_of_sampled_scores(policy, obs, v, damping=0.0):   # empirical Fisher at the argmax action
    params = list(policy.parameters())
    dist = policy.distribution(obs)
    logp = dist.log_prob(dist.probs.argmax(-1)).mean()
    g = torch.cat([x.reshape(-1) for x in torch.autograd.grad(logp, params)])
    return g * (g @ v) + damping * v


@pytest.mark.parametrize("fn", [fvp_no_damping, fvp_gradient_not_hessian, fvp_sum_over_states,
                                fvp_outer_product_of_sampled_scores])
def test_fisher_vector_product_rejects(fn):
    assert_fails("fisher_vector_product", fn, "case 1/5", "differs from the reference")
