"""Exercises of the RL track (notebooks 04-07): policy gradients, REINFORCE, TRPO, PPO.

Where the package has the function (``lmrl_course.rl.*``) the exercise's reference IS that function
(or a thin adapter that fixes its calling convention). The two bandit estimators of notebook 04 have
no other home, so their reference versions live here.
"""
from __future__ import annotations

import torch

from . import register
from .core import Case, Exercise


# ============================================================================ notebook 04

def score_function_gradient(logits: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
    """Score-function (REINFORCE) estimate of ∇_z E_{a~softmax(z)}[r] for a one-state softmax policy.

        ĝ = 1/n Σ_i r_i · ∇_z log softmax(z)_{a_i} = 1/n Σ_i r_i · (onehot(a_i) − softmax(z))

    Args:
        logits: z, shape (k,).
        actions: sampled arms a_i, int64 shape (n,).
        rewards: r_i, shape (n,).
    Returns:
        ĝ, shape (k,), dtype of ``logits``.
    """
    probs = torch.softmax(logits, dim=-1)                                              # (k,)
    onehot = torch.nn.functional.one_hot(actions, logits.shape[-1]).to(logits.dtype)  # (n, k)
    score = onehot - probs                                                             # (n, k)
    return (rewards.to(logits.dtype).unsqueeze(-1) * score).mean(dim=0)


def score_function_gradient_with_baseline(logits: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor,
                                          baseline: torch.Tensor) -> torch.Tensor:
    """The same estimate with a baseline b subtracted from every reward:

        ĝ_b = 1/n Σ_i (r_i − b) · (onehot(a_i) − softmax(z))

    Its expectation equals that of :func:`score_function_gradient` because E_a[∇ log π(a)] = 0.
    ``baseline`` is a scalar tensor (shape ``()``).
    """
    return score_function_gradient(logits, actions, rewards - baseline)


def _bandit_cases(g: torch.Generator, with_baseline: bool):
    def case(desc, k, n, dtype=torch.float32, scale=1.0, rewards=None, baseline=None):
        logits = (torch.randn(k, generator=g, dtype=torch.float64) * scale).to(dtype)
        actions = torch.randint(0, k, (n,), generator=g)
        if rewards is None:
            rewards = torch.rand(n, generator=g, dtype=torch.float64).to(dtype)
        args = (logits, actions, rewards)
        if with_baseline:
            b = torch.tensor(0.5 if baseline is None else baseline, dtype=dtype)
            args = args + (b,)
        return Case(desc, args)

    cases = [
        case("3 arms, 8 samples", 3, 8),
        case("5 arms, 100 samples", 5, 100),
        case("one sample (n = 1)", 4, 1),
        case("float64 logits and rewards: keep the dtype", 3, 16, dtype=torch.float64),
        Case("large logits (120, -50, 0): use a stable softmax",
             (torch.tensor([120.0, -50.0, 0.0]), torch.randint(0, 3, (10,), generator=g), torch.rand(10, generator=g))
             + ((torch.tensor(0.5),) if with_baseline else ())),
        case("negative rewards", 3, 12, rewards=-torch.rand(12, generator=g) - 1.0),
    ]
    if with_baseline:
        cases.append(case("baseline equal to every reward: the estimate must be exactly 0", 3, 6,
                          rewards=torch.full((6,), 0.7), baseline=0.7))
        cases.append(case("baseline -2 (not the mean of the rewards)", 4, 20, baseline=-2.0))
    return cases


register(Exercise(
    name="score_function_gradient",
    title="The score-function gradient of a softmax policy",
    reference=score_function_gradient,
    cases=lambda g: _bandit_cases(g, with_baseline=False),
    hints=[
        "For a softmax policy, ∇_z log softmax(z)_a = onehot(a) − softmax(z): a (k,) vector per sample.",
        "Build onehot = F.one_hot(actions, k) (shape (n, k)), subtract probs = softmax(logits) (shape (k,), "
        "broadcasts), multiply each row by its reward, and average over the n samples.",
        "Convert the one-hot matrix to the logits' dtype (.to(logits.dtype)) and average with .mean(dim=0), "
        "not .sum(dim=0).",
    ],
    solution='''import torch
import torch.nn.functional as F


def score_function_gradient(logits, actions, rewards):
    probs = torch.softmax(logits, dim=-1)                                          # (k,)
    onehot = F.one_hot(actions, logits.shape[-1]).to(logits.dtype)                 # (n, k)
    score = onehot - probs                                                         # ∇_z log π(a_i), (n, k)
    return (rewards.to(logits.dtype).unsqueeze(-1) * score).mean(dim=0)           # (k,)
''',
    atol=1e-6, rtol=1e-5,
))

register(Exercise(
    name="score_function_gradient_with_baseline",
    title="The same estimate with a baseline",
    reference=score_function_gradient_with_baseline,
    cases=lambda g: _bandit_cases(g, with_baseline=True),
    hints=[
        "The baseline is subtracted from the reward of every sample, before it multiplies the score: "
        "(r_i − b) · (onehot(a_i) − softmax(z)).",
        "You can reuse your score_function_gradient: pass rewards - baseline as the rewards.",
        "Subtracting b from the final gradient (instead of from the rewards) is a different, wrong thing: "
        "b · mean_i(onehot(a_i) − softmax(z)) is not b.",
    ],
    solution='''import torch
import torch.nn.functional as F


def score_function_gradient_with_baseline(logits, actions, rewards, baseline):
    probs = torch.softmax(logits, dim=-1)                                          # (k,)
    onehot = F.one_hot(actions, logits.shape[-1]).to(logits.dtype)                 # (n, k)
    advantages = (rewards - baseline).to(logits.dtype)                             # (n,)
    return (advantages.unsqueeze(-1) * (onehot - probs)).mean(dim=0)               # (k,)
''',
    atol=1e-6, rtol=1e-5,
))


# ============================================================================ notebook 05

from lmrl_course.rl.reinforce import reinforce_loss as _reinforce_loss  # noqa: E402
from lmrl_course.rl.returns import discounted_returns as _discounted_returns  # noqa: E402


def _rtg_cases(g: torch.Generator):
    r5 = torch.rand(5, generator=g)
    rNB = torch.randn(7, 3, generator=g)
    d = torch.zeros(7, 3, dtype=torch.bool)
    d[2, 0] = d[6, 1] = d[4, 2] = True
    return [
        Case("5 rewards, no episode end, γ = 0.9", (r5, torch.zeros(5, dtype=torch.bool), 0.9)),
        Case("all ones, γ = 0.5: G = (1.9375, 1.875, 1.75, 1.5, 1)",
             (torch.ones(5), torch.zeros(5, dtype=torch.bool), 0.5)),
        Case("an episode ends at step 2 (done[2] = True): nothing after it counts for steps 0-2",
             (torch.ones(6), torch.tensor([0, 0, 1, 0, 0, 0], dtype=torch.bool), 0.9)),
        Case("γ = 1: plain sums", (r5, torch.zeros(5, dtype=torch.bool), 1.0)),
        Case("γ = 0: G_t = r_t", (r5, torch.zeros(5, dtype=torch.bool), 0.0)),
        Case("(N, B) = (7, 3): 3 environments, episodes ending at different steps", (rNB, d, 0.99)),
        Case("bootstrap: last_value = V(s_N) = 10 after a cut rollout", (torch.ones(4), torch.zeros(4, dtype=torch.bool), 0.9),
             {"last_value": torch.tensor(10.0)}),
        Case("last_value is ignored where the last step is done",
             (torch.ones(4), torch.tensor([0, 0, 0, 1], dtype=torch.bool), 0.9), {"last_value": torch.tensor(10.0)}),
        Case("(N, B) with last_value of shape (B,) and float 0/1 dones",
             (rNB, d.float(), 0.95), {"last_value": torch.randn(3, generator=g)}),
        Case("float64 rewards: keep the dtype", (torch.rand(6, generator=g, dtype=torch.float64),
                                                torch.zeros(6, dtype=torch.bool), 0.99)),
    ]


register(Exercise(
    name="reward_to_go",
    title="Discounted reward-to-go with episode ends and a bootstrap value",
    reference=_discounted_returns,
    cases=_rtg_cases,
    hints=[
        "Go backwards in time: G_t = r_t + γ · (1 − done_t) · G_{t+1}. Start the recursion with "
        "G_N = last_value (or 0 when last_value is None).",
        "Keep a running tensor of shape rewards[0].shape (a scalar for (N,), (B,) for (N, B)); loop "
        "`for t in reversed(range(N))`, update it, store it in returns[t]. Convert done to float first: "
        "`done = dones.to(rewards.dtype)`.",
        "Where done_t is true, the episode ended at step t: G_t = r_t exactly (no bootstrap, not even from "
        "last_value). Allocate with torch.zeros_like(rewards) to keep shape and dtype.",
    ],
    solution='''import torch


def reward_to_go(rewards, dones, gamma, last_value=None):
    done = dones.to(rewards.dtype)
    running = torch.zeros_like(rewards[0]) if last_value is None else last_value.to(rewards.dtype)
    returns = torch.zeros_like(rewards)
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * (1.0 - done[t]) * running   # G_t = r_t + γ (1 − done_t) G_{t+1}
        returns[t] = running
    return returns
''',
    atol=1e-5, rtol=1e-5,
))


def _reinforce_cases(g: torch.Generator):
    return [
        Case("64 samples", (torch.randn(64, generator=g) - 1.0, torch.randn(64, generator=g))),
        Case("one sample", (torch.tensor([-0.7]), torch.tensor([2.0]))),
        Case("all advantages zero: loss 0 and zero gradient", (torch.randn(10, generator=g) - 1, torch.zeros(10))),
        Case("(B, T) = (4, 5) token log-probabilities", (torch.randn(4, 5, generator=g) - 2, torch.randn(4, 5, generator=g))),
        Case("float64", (torch.randn(16, generator=g, dtype=torch.float64) - 1,
                         torch.randn(16, generator=g, dtype=torch.float64))),
    ]


register(Exercise(
    name="reinforce_loss",
    title="The REINFORCE surrogate loss",
    reference=_reinforce_loss,
    cases=_reinforce_cases,
    hints=[
        "Gradient DEscent on L must do gradient AScent on J: L = −mean(logp · Â).",
        "Average over all elements (.mean()), whatever the shape. Not .sum(): the step size would grow "
        "with the batch.",
        "Â is a constant weight, not something to optimise: use advantages.detach(), or the gradient "
        "would also flow into the value network that produced it. The checker compares gradients with "
        "respect to both inputs.",
    ],
    solution='''def reinforce_loss(logp, advantages):
    return -(logp * advantages.detach()).mean()
''',
    atol=1e-6, rtol=1e-5, check_grad=True,
))


# ============================================================================ notebook 07

from lmrl_course.rl.ppo import clipped_surrogate_loss as _clipped_surrogate_loss  # noqa: E402
from lmrl_course.rl.returns import gae as _gae  # noqa: E402


def ppo_clipped_loss(logp_new: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor,
                     clip_coef: float = 0.2) -> torch.Tensor:
    """The loss of :func:`lmrl_course.rl.ppo.clipped_surrogate_loss` (its first output):

        L_clip = −mean[ min(ratio · Â, clip(ratio, 1 − ε, 1 + ε) · Â) ],  ratio = exp(logp_new − logp_old)
    """
    return _clipped_surrogate_loss(logp_new, logp_old, advantages, clip_coef)[0]


def _ppo_cases(g: torch.Generator):
    def case(desc, n, spread, clip_coef=0.2, sign=None, dtype=torch.float32):
        logp_old = (torch.rand(n, generator=g, dtype=torch.float64) * -2.0 - 0.05)
        logp_new = logp_old + torch.randn(n, generator=g, dtype=torch.float64) * spread
        adv = torch.randn(n, generator=g, dtype=torch.float64)
        if sign is not None:
            adv = adv.abs() * sign
        return Case(desc, (logp_new.to(dtype), logp_old.to(dtype), adv.to(dtype), clip_coef))

    return [
        case("ratios close to 1 (nothing clipped)", 32, 0.01),
        case("ratios far from 1, mixed advantages: clipping matters", 64, 0.5),
        case("positive advantages only, ratios far from 1", 32, 0.6, sign=1.0),
        case("negative advantages only, ratios far from 1", 32, 0.6, sign=-1.0),
        case("clip_coef = 0.1", 48, 0.4, clip_coef=0.1),
        case("float64", 16, 0.3, dtype=torch.float64),
        Case("hand-made: ratio 2 with Â = +1, ratio 0.5 with Â = −1, ratio 1.1 with Â = +1",
             (torch.log(torch.tensor([2.0, 0.5, 1.1])), torch.zeros(3), torch.tensor([1.0, -1.0, 1.0]), 0.2)),
    ]


register(Exercise(
    name="ppo_clipped_loss",
    title="PPO's clipped surrogate loss",
    reference=ppo_clipped_loss,
    cases=_ppo_cases,
    hints=[
        "ratio = exp(logp_new − logp_old); logp_old and the advantages are constants from the rollout: "
        ".detach() them (the checker compares gradients with respect to all three tensors).",
        "Two candidate objectives per sample: ratio·Â and clamp(ratio, 1 − ε, 1 + ε)·Â. Take the element-wise "
        "torch.min of the two (not min over the batch), then the mean over samples.",
        "It is a loss to minimise: return −mean(min(...)). Clamping the ratio alone (without the min) is "
        "wrong when Â < 0 and the ratio is already below 1 − ε: the unclipped term must win there.",
    ],
    solution='''import torch


def ppo_clipped_loss(logp_new, logp_old, advantages, clip_coef=0.2):
    ratio = torch.exp(logp_new - logp_old.detach())                               # π_θ / π_θold
    advantages = advantages.detach()                                              # constants, like logp_old
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef) * advantages
    return -torch.min(unclipped, clipped).mean()
''',
    atol=1e-6, rtol=1e-5, check_grad=True,
))


def gae_advantages(rewards: torch.Tensor, values: torch.Tensor, terminated: torch.Tensor, truncated: torch.Tensor,
                   last_value: torch.Tensor, gamma: float = 0.99, gae_lambda: float = 0.95):
    """:func:`lmrl_course.rl.returns.gae` with ``next_values[t] = values[t+1]`` and ``last_value`` at the end:
    returns ``(advantages, returns)``."""
    return _gae(rewards, values, terminated, truncated, last_value=last_value, gamma=gamma, gae_lambda=gae_lambda)


def _gae_cases(g: torch.Generator):
    def b(*xs):
        return torch.tensor(xs, dtype=torch.bool)

    r6, v6 = torch.rand(6, generator=g), torch.rand(6, generator=g) * 5
    none6 = torch.zeros(6, dtype=torch.bool)
    rNB, vNB = torch.randn(8, 3, generator=g), torch.randn(8, 3, generator=g)
    term = torch.zeros(8, 3, dtype=torch.bool)
    trunc = torch.zeros(8, 3, dtype=torch.bool)
    term[3, 0] = term[6, 2] = True
    trunc[5, 1] = trunc[1, 2] = True
    return [
        Case("6 steps, no episode end, γ = 0.99, λ = 0.95", (r6, v6, none6, none6, torch.tensor(2.0), 0.99, 0.95)),
        Case("λ = 0: Â_t = δ_t (one-step TD error)", (r6, v6, none6, none6, torch.tensor(2.0), 0.99, 0.0)),
        Case("λ = 1: Â_t = G_t − V(s_t) (Monte-Carlo)", (r6, v6, none6, none6, torch.tensor(2.0), 0.9, 1.0)),
        Case("terminated at step 2: no bootstrap there, nothing flows back across it",
             (r6, v6, b(0, 0, 1, 0, 0, 0), none6, torch.tensor(2.0), 0.99, 0.95)),
        Case("truncated at step 2: bootstrap γ·V(s_final) = γ·values[3], nothing flows back across it",
             (r6, v6, none6, b(0, 0, 1, 0, 0, 0), torch.tensor(2.0), 0.99, 0.95)),
        Case("terminated at the last step: last_value must be ignored",
             (r6, v6, b(0, 0, 0, 0, 0, 1), none6, torch.tensor(100.0), 0.99, 0.95)),
        Case("(N, B) = (8, 3) with terminations and truncations",
             (rNB, vNB, term, trunc, torch.randn(3, generator=g), 0.99, 0.95)),
        Case("float64", (r6.double(), v6.double(), none6, none6, torch.tensor(1.0, dtype=torch.float64), 0.97, 0.9)),
        Case("step 2 both terminated and truncated (Gymnasium allows it): it ends once, it is not 'done twice'",
             (r6, v6, b(0, 0, 1, 0, 0, 0), b(0, 0, 1, 0, 0, 0), torch.tensor(2.0), 0.99, 0.95)),
    ]


register(Exercise(
    name="gae",
    title="Generalised advantage estimation, truncation-aware",
    reference=gae_advantages,
    cases=_gae_cases,
    hints=[
        "next_values[t] = values[t+1] for t < N−1 and last_value for t = N−1 (torch.cat along time). "
        "δ_t = r_t + γ·(1 − terminated_t)·next_values[t] − values[t].",
        "Backwards: Â_t = δ_t + γλ·(1 − done_t)·Â_{t+1} with done_t = terminated_t OR truncated_t, Â_N = 0. "
        "A truncated step still bootstraps inside δ_t (only terminated removes the γV term), but no "
        "advantage flows back across either kind of episode end.",
        "returns = advantages + values. Convert the bool masks with .to(rewards.dtype); keep a running "
        "tensor shaped like rewards[0] so (N,) and (N, B) both work.",
    ],
    solution='''import torch


def gae(rewards, values, terminated, truncated, last_value, gamma=0.99, gae_lambda=0.95):
    term = terminated.to(rewards.dtype)
    done = (terminated | truncated).to(rewards.dtype)
    next_values = torch.cat([values[1:], last_value.unsqueeze(0).to(values.dtype)])   # V(s_{t+1})
    deltas = rewards + gamma * (1 - term) * next_values - values                        # δ_t
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = deltas[t] + gamma * gae_lambda * (1 - done[t]) * running               # Â_t
        advantages[t] = running
    return advantages, advantages + values
''',
    atol=1e-5, rtol=1e-5,
))


# ============================================================================ notebook 06

from lmrl_course.rl.policies import CategoricalPolicy as _CategoricalPolicy  # noqa: E402
from lmrl_course.rl.trpo import conjugate_gradient as _conjugate_gradient  # noqa: E402
from lmrl_course.rl.trpo import fisher_vector_product as _fisher_vector_product  # noqa: E402


def _spd(g: torch.Generator, n: int, cond: float = 10.0, dtype=torch.float32) -> torch.Tensor:
    """A random symmetric positive-definite n×n matrix with eigenvalues in [1, cond]."""
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    eig = torch.linspace(1.0, cond, n, dtype=torch.float64)
    return ((q * eig) @ q.T).to(dtype)


class _MatVec:
    """v ↦ A v, with a readable repr (the checker prints case descriptions, not this)."""

    def __init__(self, A: torch.Tensor):
        self.A = A

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        return self.A @ v


def _cg_cases(g: torch.Generator):
    A3, A20, A50 = _spd(g, 3, 5.0), _spd(g, 20, 30.0), _spd(g, 50, 100.0, dtype=torch.float64)
    return [
        Case("3×3 SPD matrix, 10 iterations: exact after 3", (_MatVec(A3), torch.randn(3, generator=g)), {"iters": 10}),
        Case("20×20, only 5 iterations (not converged: follow standard CG exactly)",
             (_MatVec(A20), torch.randn(20, generator=g)), {"iters": 5}),
        Case("one iteration: x = (bᵀb / bᵀAb) · b", (_MatVec(A20), torch.randn(20, generator=g)), {"iters": 1}),
        Case("A = identity: x = b after one step", (_MatVec(torch.eye(6)), torch.randn(6, generator=g)), {"iters": 10}),
        Case("b = 0: return zeros (stop when rᵀr < tol, before dividing 0 by 0)",
             (_MatVec(A3), torch.zeros(3)), {"iters": 10}),
        Case("50×50 float64, 50 iterations", (_MatVec(A50), torch.randn(50, generator=g, dtype=torch.float64)),
             {"iters": 50}),
        Case("20×20 with the default iters=10 (not converged after 10)", (_MatVec(A20), torch.randn(20, generator=g))),
    ]


register(Exercise(
    name="conjugate_gradient",
    title="Conjugate gradient: solve A x = b with only products A v",
    reference=_conjugate_gradient,
    cases=_cg_cases,
    hints=[
        "Start from x = 0, so the residual r = b − A x = b, and the first search direction p = r. Keep "
        "rr = r @ r.",
        "Each iteration: Ap = Avp(p); α = rr / (p @ Ap); x = x + α p; r = r − α Ap; rr_new = r @ r; "
        "p = r + (rr_new / rr) p; rr = rr_new. Call Avp once per iteration.",
        "Stop early when rr < tol (check it at the top of the loop, before dividing): for b = 0 that "
        "returns x = 0 instead of 0/0 = nan. Use torch.zeros_like(b) and b.clone() so dtype follows b.",
    ],
    solution='''import torch


def conjugate_gradient(Avp, b, iters=10, tol=1e-10):
    x = torch.zeros_like(b)
    r = b.clone()                      # residual b − A x, with x = 0
    p = b.clone()                      # first search direction
    rr = r @ r
    for _ in range(iters):
        if rr < tol:
            break
        Ap = Avp(p)
        alpha = rr / (p @ Ap)          # exact minimiser along p
        x = x + alpha * p
        r = r - alpha * Ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p      # next direction, A-conjugate to the previous ones
        rr = rr_new
    return x
''',
    atol=1e-5, rtol=1e-4,
))


def _tiny_policy(g: torch.Generator, obs_dim: int, n_actions: int, hidden) -> torch.nn.Module:
    policy = _CategoricalPolicy(obs_dim, n_actions, hidden=hidden)
    with torch.no_grad():
        for p in policy.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.7)
    return policy


def _fvp_cases(g: torch.Generator):
    cases = []
    for desc, obs_dim, n_actions, hidden, M, damping in [
        ("a 2-3 linear policy (no hidden layer), 5 states", 2, 3, (), 5, 0.1),
        ("a 3-4-2 MLP policy, 16 states", 3, 2, (4,), 16, 0.01),
        ("a 4-8-8-3 MLP policy, 32 states, damping 1e-3", 4, 3, (8, 8), 32, 1e-3),
        ("a 4-8-8-3 MLP policy, 32 states, damping 1", 4, 3, (8, 8), 32, 1.0),
    ]:
        policy = _tiny_policy(g, obs_dim, n_actions, hidden)
        P = sum(p.numel() for p in policy.parameters())
        cases.append(Case(desc, (policy, torch.randn(M, obs_dim, generator=g), torch.randn(P, generator=g)),
                          {"damping": damping}))
    policy = _tiny_policy(g, 3, 2, (4,))
    P = sum(p.numel() for p in policy.parameters())
    cases.append(Case("the default damping=0.0: F v itself (notebook 06 compares it with H v)",
                      (policy, torch.randn(16, 3, generator=g), torch.randn(P, generator=g))))
    return cases


register(Exercise(
    name="fisher_vector_product",
    title="Fisher-vector product by double backprop",
    reference=_fisher_vector_product,
    cases=_fvp_cases,
    hints=[
        "KL̄(θ) = mean over states of KL(π_θold(·|s) ‖ π_θ(·|s)) with π_θold a *detached* copy: "
        "dist = policy.distribution(obs); old = Categorical(logits=dist.logits.detach()); "
        "kl = kl_divergence(old, dist).mean(). Its value and gradient at θ = θold are 0; its Hessian is F.",
        "First derivative WITH a graph: grads = torch.autograd.grad(kl, params, create_graph=True), "
        "flattened into one vector g_kl (torch.cat of .reshape(-1)). params = list(policy.parameters()).",
        "Second derivative of the scalar (g_kl @ v): torch.autograd.grad(g_kl @ v, params), flattened "
        "(create_graph is not needed this time: only the value of F v is checked). Add damping * v.",
    ],
    solution='''import torch
from torch.distributions import Categorical, kl_divergence


def fisher_vector_product(policy, obs, v, damping=0.0):
    params = list(policy.parameters())
    dist = policy.distribution(obs)
    old = Categorical(logits=dist.logits.detach())                     # π_θold, a constant
    kl = kl_divergence(old, dist).mean()                               # KL̄: value 0, gradient 0, Hessian F
    grads = torch.autograd.grad(kl, params, create_graph=True)
    g_kl = torch.cat([g.reshape(-1) for g in grads])                   # ∇KL̄ as a function of θ
    Fv = torch.autograd.grad(g_kl @ v, params)                         # ∇(∇KL̄ᵀ v) = F v
    return torch.cat([g.reshape(-1) for g in Fv]) + damping * v
''',
    # Only the value (F + damping·I) v is asked for (TRPO's conjugate gradient consumes it as a number), so
    # only the value is checked: a second create_graph=True, or an explicit Fisher matrix, is as right.
    atol=1e-5, rtol=1e-4, check_grad=False,
))
