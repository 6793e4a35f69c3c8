"""Value-free policy gradients for language models: GRPO and RLOO.

Both sample a *group* of k responses per prompt and use the other members of the group as the
baseline, so no value network is needed.

GRPO (Shao et al., 2024, DeepSeekMath) — group-relative advantage, KL as a loss term (k3 estimator)::

    Â_i = (s_i − mean_j s_j) / (std_j s_j + eps)           the same Â_i for every token of response i
    L = L_clip(ratio, Â; ε) + β · mean_t k3_t,   k3_t = π_ref/π_θ − 1 − log(π_ref/π_θ)

RLOO (Ahmadian et al., 2024) — REINFORCE Leave-One-Out, KL folded into the sequence reward::

    R_i = s_i − β Σ_t k1_t,     Â_i = R_i − 1/(k−1) Σ_{j≠i} R_j  =  k/(k−1) · (R_i − mean_j R_j)
    L = L_clip(ratio, Â; ε)                                   (a single epoch = plain REINFORCE)

Both reuse :func:`lmrl_course.rl.ppo.clipped_surrogate_loss` with a token mask.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn as nn

from ..device import get_device, synchronize
from ..gpt import GPT
from ..rl.ppo import clipped_surrogate_loss, masked_mean
from ..validation import require_in_range, require_tensor
from .kl import kl_k1, kl_k3
from .lm_ppo import _new_history, _RLHFTrainerLoop
from .rollout import response_logprobs, sample_responses

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
class GroupConfig:
    """Hyper-parameters of GRPO / RLOO; ``num_prompts · group_size`` responses per update."""

    method: str = "grpo"          # "grpo" or "rloo"
    num_prompts: int = 8          # G
    group_size: int = 4           # k
    max_new_tokens: int = 32
    temperature: float = 0.7
    kl_coef: float = 0.1          # β
    clip_coef: float = 0.2
    lr: float = 3e-5
    update_epochs: int = 2
    num_minibatches: int = 2
    max_grad_norm: float = 1.0
    scale_rewards: bool = True    # GRPO: divide by the group's std

    def __post_init__(self):
        if self.method not in ("grpo", "rloo"):
            raise ValueError(f"method must be 'grpo' or 'rloo', got {self.method!r}")
        for name in ("num_prompts", "group_size", "max_new_tokens", "update_epochs", "num_minibatches"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"GroupConfig.{name} must be a positive int, got {v!r}")
        if self.group_size < 2:
            raise ValueError(f"GroupConfig.group_size must be >= 2 (the group is the baseline), got {self.group_size}")
        require_in_range(self.temperature, "temperature", 0.0, None, low_inclusive=False)
        require_in_range(self.kl_coef, "kl_coef", 0.0, None)
        require_in_range(self.clip_coef, "clip_coef", 0.0, None, low_inclusive=False)
        require_in_range(self.lr, "lr", 0.0, None, low_inclusive=False)
        require_in_range(self.max_grad_norm, "max_grad_norm", 0.0, None, low_inclusive=False)

    @property
    def batch_size(self) -> int:
        return self.num_prompts * self.group_size


def group_loss(policy: GPT, batch: dict, cfg: GroupConfig) -> tuple:
    """GRPO / RLOO loss on a minibatch of responses (masked means over real tokens).

    ``batch``: prompt, response, mask, logp_old, ref_logp (B, N) and advantages (B,) per response.
    """
    mask = batch["mask"].bool()
    logp = response_logprobs(policy, batch["prompt"], batch["response"], cfg.temperature).masked_fill(~mask, 0.0)
    logp_old = batch["logp_old"].masked_fill(~mask, 0.0)
    adv = batch["advantages"][:, None].expand_as(logp).masked_fill(~mask, 0.0)  # (b, N): Â_i on every token
    pg_loss, info = clipped_surrogate_loss(logp, logp_old, adv, cfg.clip_coef, mask)
    loss = pg_loss
    kl = torch.zeros((), device=logp.device)
    if cfg.method == "grpo":
        ref_logp = batch["ref_logp"].masked_fill(~mask, 0.0)
        kl = masked_mean(kl_k3(logp, ref_logp, mask), mask)
        loss = pg_loss + cfg.kl_coef * kl
    return loss, {"policy_loss": pg_loss.detach(), "kl_loss": kl.detach(), "approx_kl": info["approx_kl"],
                  "clip_frac": info["clip_frac"], "ratio": info["ratio"]}


class GroupTrainer(_RLHFTrainerLoop):
    """GRPO or RLOO (``cfg.method``): trains ``policy`` in place; the interface of ``LMPPOTrainer``."""

    def __init__(self, policy: GPT, ref_policy: GPT, reward_fn: Callable, cfg: Optional[GroupConfig] = None,
                 eos_id: Optional[int] = None, pad_id: int = 0, device=None, seed: int = 0,
                 gold_fn: Optional[Callable] = None):
        cfg = GroupConfig() if cfg is None else cfg
        if not isinstance(cfg, GroupConfig):
            raise TypeError(f"cfg must be a GroupConfig, got {type(cfg).__name__}")
        if not isinstance(policy, GPT) or not isinstance(ref_policy, GPT):
            raise TypeError("policy and ref_policy must be lmrl_course.gpt.GPT models")
        if ref_policy is policy:
            raise ValueError("ref_policy must be a frozen copy of the policy (copy.deepcopy), not the same object")
        if not callable(reward_fn):
            raise TypeError("reward_fn must be callable: reward_fn(prompt, response, mask) -> scores (B,)")
        self.cfg, self.eos_id, self.pad_id, self.gold_fn, self.reward_fn = cfg, eos_id, pad_id, gold_fn, reward_fn
        self.device = get_device(device)
        self.policy = policy.to(self.device)
        self.ref_policy = ref_policy.to(self.device).eval()
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr)
        self.generator = torch.Generator().manual_seed(seed)
        self.history = _new_history()
        self.updates = 0
        self.name, self.prompts_per_update = self.cfg.method.upper(), self.cfg.num_prompts
        self._clock = 0.0

    @torch.no_grad()
    def make_batch(self, prompts: torch.Tensor) -> dict:
        """k responses for each of the G prompts, scored, with per-response advantages."""
        cfg = self.cfg
        G, k = prompts.shape[0], cfg.group_size
        prompts = prompts.to(self.device).repeat_interleave(k, dim=0)  # (G·k, P): group members are adjacent
        synchronize(self.device)
        t0 = time.perf_counter()
        ro = sample_responses(self.policy, prompts, cfg.max_new_tokens, cfg.temperature, self.eos_id, self.pad_id,
                              self.generator)
        synchronize(self.device)
        t_gen = time.perf_counter() - t0
        mask = ro.mask
        self.policy.eval()
        logp_old = response_logprobs(self.policy, ro.prompt, ro.response, cfg.temperature, mask)
        ref_logp = response_logprobs(self.ref_policy, ro.prompt, ro.response, cfg.temperature, mask)
        score = self.reward_fn(ro.prompt, ro.response, mask).float().to(self.device)  # (G·k,)
        kl = kl_k1(logp_old, ref_logp, mask)  # (G·k, N)
        if cfg.method == "grpo":
            adv = group_advantages(score.view(G, k), cfg.scale_rewards).reshape(-1)
        else:
            adv = rloo_advantages((score - cfg.kl_coef * kl.sum(1)).view(G, k)).reshape(-1)
        batch = {"prompt": ro.prompt, "response": ro.response, "mask": mask, "logp_old": logp_old,
                 "ref_logp": ref_logp, "advantages": adv, "score": score, "kl": kl, "t_gen": t_gen}
        if self.gold_fn is not None:
            batch["gold"] = self.gold_fn(ro.prompt, ro.response, mask).float()
        return batch

    def update(self, batch: dict) -> dict:
        cfg = self.cfg
        B = batch["response"].shape[0]
        stats = {"policy_loss": [], "approx_kl": [], "clip_frac": []}
        ratio_dev_first = None
        self.policy.train()
        keys = ("prompt", "response", "mask", "logp_old", "ref_logp", "advantages")
        for _ in range(cfg.update_epochs):
            perm = torch.randperm(B, generator=self.generator).to(self.device)
            for ix in torch.tensor_split(perm, cfg.num_minibatches):
                mb = {key: batch[key][ix] for key in keys}
                loss, info = group_loss(self.policy, mb, cfg)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
                self.optimizer.step()
                if ratio_dev_first is None:
                    ratio_dev_first = float((info["ratio"][mb["mask"].bool()] - 1).abs().max())
                for key in stats:
                    stats[key].append(float(info[key]))
        self.policy.eval()
        out = {key: sum(v) / len(v) for key, v in stats.items()}
        out.update(ratio_dev_first=ratio_dev_first, value_loss=float("nan"), explained_var=float("nan"))
        return out
