"""Exercises of the RLHF capstone (notebooks 08, 09 and 10). The references are the package's own
functions in :mod:`lmrl_course.rlhf` (or thin adapters fixing the calling convention); tests/test_rlhf_wiring.py
checks each of them against an independent hand loop on the exercise's own cases."""
from __future__ import annotations

import torch

from lmrl_course.rlhf.dpo import dpo_loss as _dpo_loss
from lmrl_course.rlhf.grpo import group_advantages as _group_advantages
from lmrl_course.rlhf.grpo import rloo_advantages as _rloo_advantages
from lmrl_course.rlhf.kl import kl_k3 as _kl_k3
from lmrl_course.rlhf.lm_ppo import compute_rewards as _compute_rewards
from lmrl_course.rlhf.reward_model import bradley_terry_loss as _bradley_terry_loss

from . import register
from .core import Case, Exercise


# ============================================================================ notebook 08

def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """L = −mean log σ(r_c − r_r), computed stably."""
    return _bradley_terry_loss(r_chosen, r_rejected)


def _bt_cases(g):
    return [
        Case("8 pairs of scores", (torch.randn(8, generator=g), torch.randn(8, generator=g))),
        Case("one pair", (torch.tensor([0.3]), torch.tensor([-0.2]))),
        Case("chosen far ahead (+50): the loss is ~0, not nan", (torch.tensor([50.0, 60.0]), torch.tensor([0.0, -5.0]))),
        Case("chosen far behind (−100): log σ(−100) must not be -inf", (torch.tensor([-100.0, 0.0]), torch.tensor([0.0, 100.0]))),
        Case("float64 scores: keep the dtype", (torch.randn(5, generator=g, dtype=torch.float64),
                                                torch.randn(5, generator=g, dtype=torch.float64))),
    ]


register(Exercise(
    name="bradley_terry_loss",
    title="The Bradley–Terry loss of a reward model",
    reference=bradley_terry_loss,
    cases=_bt_cases,
    hints=[
        "P(chosen ≻ rejected) = σ(r_c − r_r); the loss is the negative log of that probability, averaged over pairs.",
        "−log σ(d) = log(1 + e^{−d}) = softplus(−d). torch.log(torch.sigmoid(d)) gives -inf for d = −100 in float32.",
        "return torch.nn.functional.softplus(r_rejected - r_chosen).mean()",
    ],
    solution='''import torch.nn.functional as F


def bradley_terry_loss(r_chosen, r_rejected):
    # −log σ(r_c − r_r) = softplus(r_r − r_c): stable for any difference
    return F.softplus(r_rejected - r_chosen).mean()
''',
    atol=1e-6, rtol=1e-5, check_grad=True,
))


def rlhf_rewards(score: torch.Tensor, logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor,
                 kl_coef: float) -> torch.Tensor:
    """Per-token rewards r_t = −β (logp_t − ref_logp_t) + [t = last real token] · score, 0 at padding; (B, N)."""
    return _compute_rewards(score, logp, ref_logp, mask, kl_coef)[0]


def _rewards_cases(g):
    def case(desc, lengths, N, beta, dtype=torch.float32):
        B = len(lengths)
        mask = torch.arange(N)[None, :] < torch.tensor(lengths)[:, None]
        logp = -torch.rand(B, N, generator=g, dtype=dtype) * 3  # padding holds log-probs too: they must not count
        ref = -torch.rand(B, N, generator=g, dtype=dtype) * 3
        return Case(desc, (torch.randn(B, generator=g, dtype=dtype), logp, ref, mask, beta))
    return [
        case("4 responses of lengths 5, 2, 5, 1 (N = 5), β = 0.1", [5, 2, 5, 1], 5, 0.1),
        case("all responses full length, β = 0.5", [6, 6, 6], 6, 0.5),
        case("β = 0: only the score, at the last real token", [3, 1, 4], 4, 0.0),
        case("a response of one token: the score and its KL share position 0", [1, 7], 7, 0.2),
        case("float64 log-probs and scores: keep the dtype", [4, 2, 3], 4, 0.1, dtype=torch.float64),
    ]


register(Exercise(
    name="rlhf_rewards",
    title="Per-token rewards of RLHF-PPO",
    reference=rlhf_rewards,
    cases=_rewards_cases,
    hints=[
        "Start from −kl_coef · (logp − ref_logp) at every real token and 0 at padding (multiply by the mask, "
        "or masked_fill).",
        "The last real token of row b sits at index mask[b].sum() − 1 (the mask is True, then False).",
        "rewards[torch.arange(B), last] += score adds each score at its row's last real token.",
    ],
    solution='''import torch


def rlhf_rewards(score, logp, ref_logp, mask, kl_coef):
    kl = (logp - ref_logp).masked_fill(~mask, 0.0)          # k1 per token, 0 at padding
    rewards = -kl_coef * kl                                  # (B, N)
    last = mask.long().sum(dim=1) - 1                        # index of the last real token
    rewards[torch.arange(rewards.shape[0]), last] += score   # the score, once, at the end
    return rewards
''',
    atol=1e-6, rtol=1e-5,
))


# ============================================================================ notebook 09

def group_advantages(rewards: torch.Tensor) -> torch.Tensor:
    """GRPO: (r − group mean) / (group std + 1e-4), sample std, per row of a (G, k) tensor."""
    return _group_advantages(rewards, scale=True, eps=1e-4)


def rloo_advantages(rewards: torch.Tensor) -> torch.Tensor:
    """RLOO: r_i − mean of the other k − 1 rewards of the row, (G, k)."""
    return _rloo_advantages(rewards)


def _group_cases(g):
    return [
        Case("4 prompts × 4 responses", (torch.randn(4, 4, generator=g),)),
        Case("2 prompts × 8 responses, integer-valued scores", (torch.randint(0, 4, (2, 8), generator=g).float(),)),
        Case("a group whose rewards are all equal (must give 0, not nan)", (torch.tensor([[1.0, 1.0, 1.0], [0.0, 2.0, 1.0]]),)),
        Case("k = 2", (torch.randn(5, 2, generator=g),)),
        Case("float64", (torch.randn(3, 6, generator=g, dtype=torch.float64),)),
    ]


register(Exercise(
    name="group_advantages",
    title="GRPO's group-relative advantage",
    reference=group_advantages,
    cases=_group_cases,
    hints=[
        "Each row is one prompt's group; take the mean and the standard deviation along dim=1 with keepdim=True.",
        "GRPO uses the sample standard deviation (torch's default, correction=1) and adds eps = 1e-4 to it, "
        "so a group of equal rewards gives 0 / 1e-4 = 0.",
        "return (rewards - rewards.mean(1, keepdim=True)) / (rewards.std(1, keepdim=True) + 1e-4)",
    ],
    solution='''def group_advantages(rewards):
    mean = rewards.mean(dim=1, keepdim=True)            # (G, 1)
    std = rewards.std(dim=1, keepdim=True)              # sample std of each group
    return (rewards - mean) / (std + 1e-4)
''',
    atol=1e-5, rtol=1e-5,
))

register(Exercise(
    name="rloo_advantages",
    title="RLOO's leave-one-out baseline",
    reference=rloo_advantages,
    cases=_group_cases,
    hints=[
        "The baseline of response i is the mean reward of the OTHER k − 1 responses of its group.",
        "The sum of the others is row_sum − r_i, so their mean is (row_sum − r_i) / (k − 1).",
        "Simplify r_i − (S − r_i)/(k − 1): it equals k/(k − 1) · (r_i − mean). No loop is needed.",
    ],
    solution='''def rloo_advantages(rewards):
    k = rewards.shape[1]
    others = (rewards.sum(dim=1, keepdim=True) - rewards) / (k - 1)   # mean of the other k − 1
    return rewards - others
''',
    atol=1e-5, rtol=1e-5,
))


def k3_estimator(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(π_θ ‖ π_ref) from tokens sampled from π_θ: (r − 1) − log r, r = π_ref/π_θ."""
    return _kl_k3(logp, ref_logp)


def _k3_cases(g):
    return [
        Case("random log-probs (4, 6)", (-torch.rand(4, 6, generator=g) * 4, -torch.rand(4, 6, generator=g) * 4)),
        Case("identical models: exactly 0", (torch.full((2, 3), -1.5), torch.full((2, 3), -1.5))),
        Case("large log-ratio (±20): still finite and >= 0", (torch.tensor([[-0.1, -25.0]]), torch.tensor([[-20.1, -5.0]]))),
        Case("float64", (-torch.rand(3, 5, generator=g, dtype=torch.float64), -torch.rand(3, 5, generator=g, dtype=torch.float64))),
    ]


register(Exercise(
    name="k3_estimator",
    title="The k3 KL estimator",
    reference=k3_estimator,
    cases=_k3_cases,
    hints=[
        "The tokens come from π_θ, so the importance ratio that has mean 1 under π_θ is r = π_ref/π_θ = exp(ref_logp − logp).",
        "k3 = (r − 1) − log r, and log r is simply ref_logp − logp.",
        "torch.expm1(x) computes e^x − 1 accurately for small x: k3 = expm1(log_r) − log_r.",
    ],
    solution='''def k3_estimator(logp, ref_logp):
    log_r = ref_logp - logp                  # log(π_ref / π_θ)
    return log_r.expm1() - log_r             # (r − 1) − log r  >= 0
''',
    atol=1e-6, rtol=1e-5, check_grad=True,
    grad_args=("logp",),   # ref_logp comes from the frozen reference model: detaching it is as right
))


# ============================================================================ notebook 10

def dpo_loss(policy_chosen_logp: torch.Tensor, policy_rejected_logp: torch.Tensor, ref_chosen_logp: torch.Tensor,
             ref_rejected_logp: torch.Tensor, beta: float) -> torch.Tensor:
    """−mean log σ(β[(log π_θ(y_c) − log π_ref(y_c)) − (log π_θ(y_r) − log π_ref(y_r))]), sequence log-probs (M,)."""
    return _dpo_loss(policy_chosen_logp, policy_rejected_logp, ref_chosen_logp, ref_rejected_logp, beta)


def _dpo_cases(g):
    def lp(m, dtype=torch.float32):
        return -torch.rand(m, generator=g, dtype=dtype) * 40 - 5  # sequence log-probs of 5-45 nats
    return [
        Case("8 pairs, β = 0.1", (lp(8), lp(8), lp(8), lp(8), 0.1)),
        Case("policy = reference: the loss is log 2 whatever the log-probs", (*(lambda a, b: (a, b, a, b))(lp(5), lp(5)), 0.5)),
        Case("β = 2 and margins of hundreds of nats: log σ must not overflow",
             (torch.tensor([-10.0, -400.0]), torch.tensor([-400.0, -10.0]), torch.tensor([-200.0, -200.0]),
              torch.tensor([-200.0, -200.0]), 2.0)),
        Case("one pair, β = 1", (torch.tensor([-3.0]), torch.tensor([-4.0]), torch.tensor([-3.5]), torch.tensor([-3.5]), 1.0)),
        Case("float64", (lp(6, torch.float64), lp(6, torch.float64), lp(6, torch.float64), lp(6, torch.float64), 0.2)),
    ]


register(Exercise(
    name="dpo_loss",
    title="The DPO loss",
    reference=dpo_loss,
    cases=_dpo_cases,
    hints=[
        "DPO's implicit reward of a response is β (log π_θ(y) − log π_ref(y)); the loss is the Bradley–Terry loss "
        "of the chosen response's implicit reward against the rejected one's.",
        "h = β [(policy_chosen_logp − ref_chosen_logp) − (policy_rejected_logp − ref_rejected_logp)]; the loss is "
        "−log σ(h), averaged over the pairs.",
        "−log σ(h) = softplus(−h): return F.softplus(-h).mean()",
    ],
    solution='''import torch.nn.functional as F


def dpo_loss(policy_chosen_logp, policy_rejected_logp, ref_chosen_logp, ref_rejected_logp, beta):
    chosen = policy_chosen_logp - ref_chosen_logp            # log π_θ/π_ref of the chosen responses
    rejected = policy_rejected_logp - ref_rejected_logp      # ... and of the rejected ones
    h = beta * (chosen - rejected)                           # implicit-reward margin
    return F.softplus(-h).mean()                             # −log σ(h), stable
''',
    atol=1e-6, rtol=1e-5, check_grad=True,
    # the reference model is frozen: only the policy's log-probs are trained through (detaching the
    # reference's is as right)
    grad_args=("policy_chosen_logp", "policy_rejected_logp"),
))


def sequence_logprob(token_logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log π(y | x) = Σ_t log π(y_t | x, y_<t) over the real tokens of each row: (B, N), (B, N) bool -> (B,)."""
    return token_logp.masked_fill(~mask, 0.0).sum(dim=1)


def _seq_cases(g):
    def case(desc, lengths, N, dtype=torch.float32):
        mask = torch.arange(N)[None, :] < torch.tensor(lengths)[:, None]
        logp = -torch.rand(len(lengths), N, generator=g, dtype=dtype) * 4  # padding holds numbers too
        return Case(desc, (logp, mask))
    return [
        case("3 responses of lengths 5, 2, 4 (N = 5): padding must not count", [5, 2, 4], 5),
        case("all full length", [6, 6], 6),
        case("a response of one token", [1, 3, 7], 7),
        case("float64", [2, 5], 5, torch.float64),
        case("long float64 responses of 400 and 150 tokens: the product of the 400 probabilities (about e^-800) "
             "underflows to 0 even in float64, the sum of their logs does not", [400, 150], 400, torch.float64),
    ]


register(Exercise(
    name="sequence_logprob",
    title="A response's log-probability from its token log-probs",
    reference=sequence_logprob,
    cases=_seq_cases,
    hints=[
        "The probability of a whole response is the product of its tokens' probabilities, so its log is a sum.",
        "Only real tokens count: the padding after EOS holds numbers that belong to no response.",
        "return token_logp.masked_fill(~mask, 0.0).sum(dim=1)",
    ],
    solution='''def sequence_logprob(token_logp, mask):
    return token_logp.masked_fill(~mask, 0.0).sum(dim=1)   # Σ_t over the real tokens
''',
    atol=1e-5, rtol=1e-5, check_grad=True,
))
