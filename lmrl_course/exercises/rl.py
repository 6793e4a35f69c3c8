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
        case("large logits (±30): use a stable softmax", 3, 10, scale=30.0),
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
    solution='''def score_function_gradient(logits, actions, rewards):
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
    solution='''def score_function_gradient_with_baseline(logits, actions, rewards, baseline):
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
    solution='''def reward_to_go(rewards, dones, gamma, last_value=None):
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
