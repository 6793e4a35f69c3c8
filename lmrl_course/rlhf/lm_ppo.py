"""PPO for a language model (RLHF): a per-token KL penalty to the reference, a value head, GAE with γ = 1.

One update (the numbers appear as comments in :meth:`LMPPOTrainer.make_batch`; the sampling and the
update loop are :class:`~lmrl_course.rlhf.trainer.RLHFTrainer`'s, shared with GRPO and RLOO)::

    1  sample a response y for each of B prompts with π_θold at temperature τ  -> response, logp_old, mask
    2  score it: s = reward_fn(prompt, y) (− the missing-EOS penalty); ref_logp from π_ref; values V_φ(s_t)
    3  per-token reward   r_t = −β·(logp_old_t − ref_logp_t)  (+ s at the last real token)
    4  GAE(γ = 1, λ) over the real tokens; returns = Â + V; whiten Â over the real tokens
    5  for each epoch, each minibatch of responses:
           ratio_t = exp(logp_t − logp_old_t)                          (exactly 1 at the first minibatch)
           loss = L_clip(ratio, Â; ε) + vf_coef·L_V                    (masked means: padding never counts)
           one Adam step, gradient norm clipped

Every log-prob — sampling, π_θold, π_θ, π_ref — is taken at the same temperature τ: the policy being
optimised is softmax(z / τ), the distribution the text was actually sampled from.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn as nn

from ..gpt import GPT
from ..rl.ppo import clipped_surrogate_loss, explained_variance, value_loss
from ..rl.returns import gae, normalize_advantages
from ..validation import require_in_range, require_mask, require_same_shape, require_tensor
from .kl import kl_k1, kl_k3
from .rollout import last_token_index, response_logprobs, sample_responses
from .trainer import RLHFConfig, RLHFTrainer, sample_prompts

__all__ = ["ActorCritic", "compute_rewards", "masked_whiten", "lm_gae", "lm_ppo_loss", "LMPPOConfig",
           "LMPPOTrainer", "evaluate_policy", "sample_prompts"]


class ActorCritic(nn.Module):
    """The policy GPT plus a value head V_φ(s_t) = w·h_t + b on the same hidden states.

    The state before response token t is prompt + y_<t; its hidden state is the one whose logits
    predict token t, so one forward pass gives both the log-probs and the values.
    """

    def __init__(self, policy: GPT):
        super().__init__()
        if not isinstance(policy, GPT):
            raise TypeError(f"policy must be a lmrl_course.gpt.GPT, got {type(policy).__name__}")
        self.policy = policy
        self.value_head = nn.Linear(policy.config.n_embd, 1)
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)

    def forward(self, prompt: torch.Tensor, response: torch.Tensor, temperature: float):
        """(logp (B, N) at temperature τ, values (B, N)) for the response tokens."""
        require_tensor(prompt, "prompt", ndim=2, kind="int", dims="(B, P)")
        require_tensor(response, "response", ndim=2, kind="int", dims="(B, N)")
        P = prompt.shape[1]
        idx = torch.cat([prompt, response], dim=1).long()[:, :-1]  # (B, P+N-1)
        h = self.policy.hidden_states(idx)[:, P - 1:, :]  # (B, N, C)
        logits = self.policy.lm_head(h)  # (B, N, V)
        logp = torch.log_softmax(logits.float() / temperature, dim=-1).gather(2, response.long()[..., None])[..., 0]
        values = self.value_head(h)[..., 0]  # (B, N)
        return logp, values


def compute_rewards(score: torch.Tensor, logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor,
                    kl_coef: float, length_ref: Optional[float] = None) -> tuple:
    """Per-token rewards of RLHF-PPO.

        kl_t = log π_θold(y_t) − log π_ref(y_t)                 (k1, 0 at padding)
        r_t  = −β · kl_t  +  [t = last real token] · s

    so Σ_t r_t = s − β Σ_t kl_t (the standard: every token of a line pays, so a shorter line pays less).
    ``length_ref = L`` charges β · kl_t · L / |y| instead (|y| = the line's real tokens): a line then pays
    β · L · mean_t kl_t whatever its length, the same as the standard at |y| = L (notebook 08, section 7); the
    factor L/|y| scales negative kl_t terms too (by L for a line that is only its EOS).
    Returns ``(rewards, kl)``, both (B, N); ``kl`` is the plain k1 either way.
    """
    require_tensor(score, "score", ndim=1, kind="float", dims="(B,)")
    require_same_shape(logp, mask, "logp", "mask")
    if score.shape[0] != logp.shape[0]:
        raise ValueError(f"score has {score.shape[0]} entries for {logp.shape[0]} responses")
    require_in_range(kl_coef, "kl_coef", 0.0, None)
    kl = kl_k1(logp, ref_logp, mask)  # (B, N)
    rewards = -kl_coef * kl  # (B, N)
    if length_ref is not None:
        require_in_range(length_ref, "length_ref", 0.0, None, low_inclusive=False)
        n_real = mask.sum(dim=1, keepdim=True).clamp(min=1).to(kl.dtype)  # (B, 1) |y|
        rewards = rewards * (length_ref / n_real)  # (B, N)
    last = last_token_index(mask)  # (B,)
    rewards = rewards.clone()
    rewards[torch.arange(rewards.shape[0], device=rewards.device), last] += score.to(rewards.dtype)
    return rewards, kl


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """:func:`lmrl_course.rl.returns.normalize_advantages` over the positions where ``mask`` is True,
    (x − mean) / (std + eps) with the population std (the one convention of the course); 0 elsewhere."""
    require_tensor(x, "x", kind="float")
    require_mask(mask, "mask")
    require_same_shape(x, mask, "x", "mask")
    m = mask.bool()
    if not bool(m.any()):
        raise ValueError("masked_whiten: the mask selects no element")
    out = torch.zeros_like(x)
    out[m] = normalize_advantages(x[m], eps)  # padding never enters the mean or the std
    return out


def lm_gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0,
           gae_lambda: float = 0.95) -> tuple:
    """GAE over response tokens, (B, N) each, with :func:`lmrl_course.rl.returns.gae`.

    Each response is one episode that terminates at its last real token (no bootstrap after it);
    padded positions get advantage 0 and return 0.
    """
    require_tensor(rewards, "rewards", ndim=2, kind="float", dims="(B, N)")
    require_same_shape(values, rewards, "values", "rewards")
    require_mask(mask, "mask")
    require_same_shape(mask, rewards, "mask", "rewards")
    m = mask.bool()
    last = last_token_index(m)  # (B,)
    terminated = torch.zeros_like(m)
    terminated[torch.arange(m.shape[0], device=m.device), last] = True  # (B, N)
    values = values.detach().masked_fill(~m, 0.0)
    next_values = torch.cat([values[:, 1:], torch.zeros_like(values[:, :1])], dim=1)  # (B, N)
    adv, ret = gae(rewards.masked_fill(~m, 0.0).T, values.T, terminated.T, torch.zeros_like(terminated).T,
                   next_values.T, gamma=gamma, gae_lambda=gae_lambda)  # time-major (N, B)
    return adv.T.masked_fill(~m, 0.0), ret.T.masked_fill(~m, 0.0)


@dataclass
class LMPPOConfig(RLHFConfig):
    """Hyper-parameters of RLHF-PPO (and of :class:`RLHFConfig`: N, τ, β, ε, lr, epochs, minibatches, ...)."""

    batch_size: int = 32          # B: prompts (= responses) per update
    vf_coef: float = 0.1          # weight of the value loss
    vf_clip: Optional[float] = 0.2  # value clipping around the rollout's values (None = off)
    gamma: float = 1.0            # γ: no discount within a response
    gae_lambda: float = 0.95      # λ
    whiten_advantages: bool = True
    kl_length_ref: Optional[float] = None  # None: Σ_t β·kl_t; L: β·kl_t·L/|y| (see compute_rewards)

    _POSITIVE_INTS = RLHFConfig._POSITIVE_INTS + ("batch_size",)

    def __post_init__(self):
        super().__post_init__()
        require_in_range(self.vf_coef, "vf_coef", 0.0, None)
        require_in_range(self.gamma, "gamma", 0.0, 1.0)
        require_in_range(self.gae_lambda, "gae_lambda", 0.0, 1.0)
        if self.kl_length_ref is not None:
            require_in_range(self.kl_length_ref, "kl_length_ref", 0.0, None, low_inclusive=False)
        if self.num_minibatches > self.batch_size:
            raise ValueError(f"num_minibatches={self.num_minibatches} > batch_size={self.batch_size}")


def lm_ppo_loss(model: ActorCritic, batch: dict, cfg: LMPPOConfig) -> tuple:
    """PPO loss on a minibatch of responses: L_clip + vf_coef·L_V, both masked means over real tokens.

    ``batch`` holds prompt, response, mask, logp_old, values_old, advantages, returns ((B, P) / (B, N)).
    Returns ``(loss, info)``; info: policy_loss, value_loss, approx_kl, clip_frac, ratio (detached).
    """
    mask = batch["mask"].bool()
    logp, values = model(batch["prompt"], batch["response"], cfg.temperature)  # (b, N), (b, N)
    # padding: replace whatever is stored there by constants, so no padded value reaches the loss
    logp = logp.masked_fill(~mask, 0.0)
    logp_old = batch["logp_old"].masked_fill(~mask, 0.0)
    adv = batch["advantages"].masked_fill(~mask, 0.0)
    pg_loss, info = clipped_surrogate_loss(logp, logp_old, adv, cfg.clip_coef, mask)
    v_old = batch["values_old"].masked_fill(~mask, 0.0)
    ret = batch["returns"].masked_fill(~mask, 0.0)
    values = values.masked_fill(~mask, 0.0)
    v_loss = value_loss(values, ret, v_old if cfg.vf_clip else None, cfg.vf_clip, mask)
    loss = pg_loss + cfg.vf_coef * v_loss
    info = {"policy_loss": pg_loss.detach(), "value_loss": v_loss.detach(), "approx_kl": info["approx_kl"],
            "clip_frac": info["clip_frac"], "ratio": info["ratio"]}
    return loss, info


@torch.no_grad()
def evaluate_policy(policy: GPT, ref_policy: GPT, prompts: torch.Tensor, reward_fn: Callable, max_new_tokens: int,
                    temperature: float, eos_id: Optional[int] = None, pad_id: int = 0, seed: int = 0) -> dict:
    """Mean score, mean KL(π_θ ‖ π_ref) per response (Σ_t k1, and Σ_t k3), mean length and the fraction of
    responses cut at ``max_new_tokens`` without EOS, on ``prompts``; ``rollout`` holds the samples."""
    gen = torch.Generator().manual_seed(seed)
    ro = sample_responses(policy, prompts, max_new_tokens, temperature, eos_id, pad_id, gen)
    ref_logp = response_logprobs(ref_policy, ro.prompt, ro.response, temperature, ro.mask)
    logp = response_logprobs(policy, ro.prompt, ro.response, temperature, ro.mask)
    score = reward_fn(ro.prompt, ro.response, ro.mask).float()
    return {"score": float(score.mean()), "kl": float(kl_k1(logp, ref_logp, ro.mask).sum(1).mean()),
            "kl_k3": float(kl_k3(logp, ref_logp, ro.mask).sum(1).mean()),
            "length": float(ro.mask.sum(1).float().mean()), "truncated_fraction": float(ro.truncated.float().mean()),
            "rollout": ro}


class LMPPOTrainer(RLHFTrainer):
    """RLHF with PPO: trains ``policy`` (in place) against ``reward_fn`` with a KL penalty to ``ref_policy``.

    ``reward_fn(prompt, response, mask) -> (B,)`` scores whole responses (a reward model, or a rule).
    ``gold_fn`` (same signature, optional) is only logged, e.g. the annotator's own score while
    training on the reward model's. Same ``seed`` and device → the same run.
    """

    name = "PPO"
    loss_keys = ("prompt", "response", "mask", "logp_old", "values_old", "advantages", "returns")

    def __init__(self, policy: GPT, ref_policy: GPT, reward_fn: Callable, cfg: Optional[LMPPOConfig] = None,
                 eos_id: Optional[int] = None, pad_id: int = 0, device=None, seed: int = 0,
                 gold_fn: Optional[Callable] = None):
        cfg = LMPPOConfig() if cfg is None else cfg
        if not isinstance(cfg, LMPPOConfig):
            raise TypeError(f"cfg must be an LMPPOConfig, got {type(cfg).__name__}")
        super().__init__(policy, ref_policy, reward_fn, cfg, eos_id, pad_id, device, seed, gold_fn)
        self.model = ActorCritic(self.policy).to(self.device)
        self.prompts_per_update = cfg.batch_size
        self._init_optimizer()

    @torch.no_grad()
    def make_batch(self, prompts: torch.Tensor) -> dict:
        cfg = self.cfg
        batch = self.sample(prompts)  # 1, 2
        mask = batch["mask"]
        self.model.eval()
        logp_old, values = self.model(batch["prompt"], batch["response"], cfg.temperature)  # π_θold, V_φ
        logp_old, values = logp_old.masked_fill(~mask, 0.0), values.masked_fill(~mask, 0.0)
        ref_logp = response_logprobs(self.ref_policy, batch["prompt"], batch["response"], cfg.temperature, mask)
        rewards, kl = compute_rewards(batch["score"], logp_old, ref_logp, mask, self.kl_coef,
                                      cfg.kl_length_ref)  # 3
        adv, ret = lm_gae(rewards, values, mask, cfg.gamma, cfg.gae_lambda)  # 4
        if cfg.whiten_advantages:
            adv = masked_whiten(adv, mask)
        batch.update(logp_old=logp_old, ref_logp=ref_logp, values_old=values, advantages=adv, returns=ret, kl=kl)
        return batch

    def loss(self, mb: dict) -> tuple:
        return lm_ppo_loss(self.model, mb, self.cfg)

    def extra_stats(self, batch: dict) -> dict:
        m = batch["mask"].bool()
        return {"explained_var": explained_variance(batch["values_old"][m], batch["returns"][m])}
