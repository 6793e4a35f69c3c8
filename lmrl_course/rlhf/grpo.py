"""Value-free policy gradients for language models: GRPO and RLOO.

Both sample a *group* of k responses per prompt and use the other members of the group as the
baseline, so no value network is needed.

GRPO (Shao et al., 2024, DeepSeekMath) — group-relative advantage, KL as a loss term (k3 estimator)::

    Â_i = (s_i − mean_j s_j) / (std_j s_j + eps)           the same Â_i for every token of response i
    L = L_clip(ratio, Â; ε) + β · mean_t k3_t,   k3_t = π_ref/π_θ − 1 − log(π_ref/π_θ)

RLOO (Ahmadian et al., 2024) — REINFORCE Leave-One-Out, KL folded into the sequence reward::

    R_i = s_i − β Σ_t k1_t,     Â_i = R_i − 1/(k−1) Σ_{j≠i} R_j  =  k/(k−1) · (R_i − mean_j R_j)
    L = L_clip(ratio, Â; ε)

With one epoch and one minibatch the ratio is 1 at the only step, the clip never binds, and RLOO is plain
REINFORCE with the leave-one-out baseline (the paper's algorithm); with more minibatches or epochs the later
steps are off-policy and the clip matters.

Both reuse :func:`lmrl_course.rl.ppo.clipped_surrogate_loss` with a token mask: the loss is a mean over all
real tokens of the minibatch (as TRL's GRPO does by default; Dr. GRPO divides by a fixed constant instead), not
DeepSeekMath's per-response average
1/G Σ_i 1/|o_i| Σ_t, which gives every response the same total weight however long it is (and so weighs
each token of a short response more). The update loop is :class:`~lmrl_course.rlhf.trainer.RLHFTrainer`'s,
shared with PPO.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch

from ..gpt import GPT
from ..rl.ppo import clipped_surrogate_loss, masked_mean
from ..validation import require_in_range, require_tensor
from .kl import kl_k1, kl_k3
from .rollout import response_logprobs
from .trainer import RLHFConfig, RLHFTrainer

__all__ = ["group_advantages", "rloo_advantages", "GroupConfig", "group_loss", "GroupTrainer"]


def _check_groups(rewards: torch.Tensor) -> None:
    require_tensor(rewards, "rewards", ndim=2, kind="float", dims="(G, k): G prompts, k responses each")
    if rewards.shape[0] == 0:
        raise ValueError(f"rewards holds no group (G = 0), got shape {tuple(rewards.shape)}")
    if rewards.shape[1] < 2:
        raise ValueError(f"a group needs at least k=2 responses to form a baseline, got k={rewards.shape[1]}")


def group_advantages(rewards: torch.Tensor, scale: bool = True, eps: float = 1e-4) -> torch.Tensor:
    """GRPO: Â_i = (s_i − mean_group) / (std_group + eps), (G, k) -> (G, k).

    ``std`` is the sample standard deviation of the group; ``scale=False`` only subtracts the mean
    (Dr. GRPO). A group whose rewards are all equal gets Â = 0: it carries no signal.
    """
    _check_groups(rewards)
    require_in_range(eps, "eps", 0.0, None, low_inclusive=False)
    centred = rewards - rewards.mean(dim=1, keepdim=True)  # (G, k)
    if not scale:
        return centred
    return centred / (rewards.std(dim=1, keepdim=True) + eps)


def rloo_advantages(rewards: torch.Tensor) -> torch.Tensor:
    """RLOO: Â_i = R_i − mean_{j≠i} R_j = k/(k−1) · (R_i − mean_j R_j), (G, k) -> (G, k)."""
    _check_groups(rewards)
    k = rewards.shape[1]
    return (rewards - rewards.mean(dim=1, keepdim=True)) * (k / (k - 1))


@dataclass
class GroupConfig(RLHFConfig):
    """Hyper-parameters of GRPO / RLOO; ``num_prompts · group_size`` responses per update (and those of
    :class:`RLHFConfig`)."""

    method: str = "grpo"          # "grpo" or "rloo"
    num_prompts: int = 8          # G
    group_size: int = 4           # k
    scale_rewards: bool = True    # GRPO: divide by the group's std

    _POSITIVE_INTS = RLHFConfig._POSITIVE_INTS + ("num_prompts", "group_size")

    def __post_init__(self):
        if self.method not in ("grpo", "rloo"):
            raise ValueError(f"method must be 'grpo' or 'rloo', got {self.method!r}")
        super().__post_init__()
        if self.group_size < 2:
            raise ValueError(f"GroupConfig.group_size must be >= 2 (the group is the baseline), got {self.group_size}")

    @property
    def batch_size(self) -> int:
        return self.num_prompts * self.group_size


def group_loss(policy: GPT, batch: dict, cfg: GroupConfig, kl_coef: Optional[float] = None) -> tuple:
    """GRPO / RLOO loss on a minibatch of responses (masked means over real tokens).

    ``batch``: prompt, response, mask, logp_old, ref_logp (B, N) and advantages (B,) per response.
    GRPO adds ``kl_coef`` (default ``cfg.kl_coef``) times the token-mean of k3 — a loss term whose gradient
    is that of KL(π_ref ‖ π_θ), see :mod:`lmrl_course.rlhf.kl`. Info: policy_loss, kl_loss (the k3 term,
    GRPO only), approx_kl, clip_frac, ratio.
    """
    kl_coef = cfg.kl_coef if kl_coef is None else kl_coef
    mask = batch["mask"].bool()
    logp = response_logprobs(policy, batch["prompt"], batch["response"], cfg.temperature).masked_fill(~mask, 0.0)
    logp_old = batch["logp_old"].masked_fill(~mask, 0.0)
    adv = batch["advantages"][:, None].expand_as(logp).masked_fill(~mask, 0.0)  # (b, N): Â_i on every token
    pg_loss, info = clipped_surrogate_loss(logp, logp_old, adv, cfg.clip_coef, mask)
    loss = pg_loss
    kl = torch.full((), float("nan"), device=logp.device)  # RLOO: no KL term in the loss
    if cfg.method == "grpo":
        ref_logp = batch["ref_logp"].masked_fill(~mask, 0.0)
        kl = masked_mean(kl_k3(logp, ref_logp, mask), mask)
        loss = pg_loss + kl_coef * kl
    return loss, {"policy_loss": pg_loss.detach(), "kl_loss": kl.detach(), "approx_kl": info["approx_kl"],
                  "clip_frac": info["clip_frac"], "ratio": info["ratio"]}


class GroupTrainer(RLHFTrainer):
    """GRPO or RLOO (``cfg.method``): trains ``policy`` in place; the interface of ``LMPPOTrainer``."""

    loss_keys = ("prompt", "response", "mask", "logp_old", "ref_logp", "advantages")

    def __init__(self, policy: GPT, ref_policy: GPT, reward_fn: Callable, cfg: Optional[GroupConfig] = None,
                 eos_id: Optional[int] = None, pad_id: int = 0, device=None, seed: int = 0,
                 gold_fn: Optional[Callable] = None):
        cfg = GroupConfig() if cfg is None else cfg
        if not isinstance(cfg, GroupConfig):
            raise TypeError(f"cfg must be a GroupConfig, got {type(cfg).__name__}")
        super().__init__(policy, ref_policy, reward_fn, cfg, eos_id, pad_id, device, seed, gold_fn)
        self.model = self.policy
        self.name, self.prompts_per_update = cfg.method.upper(), cfg.num_prompts
        self._init_optimizer()

    @torch.no_grad()
    def make_batch(self, prompts: torch.Tensor) -> dict:
        """k responses for each of the G prompts, scored, with per-response advantages."""
        cfg = self.cfg
        G, k = prompts.shape[0], cfg.group_size
        batch = self.sample(prompts.repeat_interleave(k, dim=0))  # (G·k, P): group members are adjacent
        mask = batch["mask"]
        self.policy.eval()
        logp_old = response_logprobs(self.policy, batch["prompt"], batch["response"], cfg.temperature, mask)
        ref_logp = response_logprobs(self.ref_policy, batch["prompt"], batch["response"], cfg.temperature, mask)
        score = batch["score"]  # (G·k,)
        kl = kl_k1(logp_old, ref_logp, mask)  # (G·k, N)
        if cfg.method == "grpo":
            adv = group_advantages(score.view(G, k), cfg.scale_rewards).reshape(-1)
        else:
            adv = rloo_advantages((score - self.kl_coef * kl.sum(1)).view(G, k)).reshape(-1)
        batch.update(logp_old=logp_old, ref_logp=ref_logp, advantages=adv, kl=kl)
        return batch

    def loss(self, mb: dict) -> tuple:
        return group_loss(self.policy, mb, self.cfg, self.kl_coef)
