"""PPO for a language model (RLHF): a per-token KL penalty to the reference, a value head, GAE with γ = 1.

One update (the numbers appear as comments in :meth:`LMPPOTrainer.step`)::

    1  sample a response y for each of B prompts with π_θold at temperature τ  -> response, logp_old, mask
    2  score it: s = reward_fn(prompt, y);  ref_logp from the frozen π_ref;  values V_φ(s_t)
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

import time
from dataclasses import asdict, dataclass
from typing import Callable, Optional

import torch
import torch.nn as nn

from ..device import get_device, synchronize
from ..gpt import GPT
from ..rl.ppo import clipped_surrogate_loss, explained_variance, masked_mean, value_loss
from ..rl.returns import gae
from ..validation import require_in_range, require_mask, require_same_shape, require_tensor
from .kl import kl_k1, kl_k3
from .rollout import last_token_index, response_logprobs, sample_responses

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
                    kl_coef: float) -> tuple:
    """Per-token rewards of RLHF-PPO.

        kl_t = log π_θold(y_t) − log π_ref(y_t)                 (k1, 0 at padding)
        r_t  = −β · kl_t  +  [t = last real token] · s

    so Σ_t r_t = s − β Σ_t kl_t. Returns ``(rewards, kl)``, both (B, N).
    """
    require_tensor(score, "score", ndim=1, kind="float", dims="(B,)")
    require_same_shape(logp, mask, "logp", "mask")
    if score.shape[0] != logp.shape[0]:
        raise ValueError(f"score has {score.shape[0]} entries for {logp.shape[0]} responses")
    require_in_range(kl_coef, "kl_coef", 0.0, None)
    kl = kl_k1(logp, ref_logp, mask)  # (B, N)
    rewards = -kl_coef * kl  # (B, N)
    last = last_token_index(mask)  # (B,)
    rewards = rewards.clone()
    rewards[torch.arange(rewards.shape[0], device=rewards.device), last] += score.to(rewards.dtype)
    return rewards, kl


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True, eps: float = 1e-8) -> torch.Tensor:
    """(x − mean) / std over the positions where ``mask`` is True (population std); 0 elsewhere.
    ``shift_mean=False`` only rescales (keeps the mean)."""
    require_tensor(x, "x", kind="float")
    require_mask(mask, "mask")
    require_same_shape(x, mask, "x", "mask")
    m = mask.bool()
    if not bool(m.any()):
        raise ValueError("masked_whiten: the mask selects no element")
    mean = masked_mean(x, m)
    var = masked_mean((x - mean) ** 2, m)
    out = (x - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        out = out + mean
    return out.masked_fill(~m, 0.0)


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
class LMPPOConfig:
    """Hyper-parameters of RLHF-PPO (defaults: the course's Shakespeare run, a few seconds per update)."""

    batch_size: int = 32          # B: prompts (= responses) per update
    max_new_tokens: int = 32      # N: longest response
    temperature: float = 0.7      # τ: sampling temperature; every log-prob is taken at τ
    kl_coef: float = 0.1          # β: KL penalty per token
    clip_coef: float = 0.2        # ε: ratio clip
    vf_coef: float = 0.1          # weight of the value loss
    vf_clip: Optional[float] = 0.2  # value clipping around the rollout's values (None = off)
    gamma: float = 1.0            # γ: no discount within a response
    gae_lambda: float = 0.95      # λ
    lr: float = 3e-5              # Adam, policy and value head
    update_epochs: int = 2
    num_minibatches: int = 2
    max_grad_norm: float = 1.0
    whiten_advantages: bool = True

    def __post_init__(self):
        for name in ("batch_size", "max_new_tokens", "update_epochs", "num_minibatches"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{type(self).__name__}.{name} must be a positive int, got {v!r}")
        require_in_range(self.temperature, "temperature", 0.0, None, low_inclusive=False)
        require_in_range(self.kl_coef, "kl_coef", 0.0, None)
        require_in_range(self.clip_coef, "clip_coef", 0.0, None, low_inclusive=False)
        require_in_range(self.vf_coef, "vf_coef", 0.0, None)
        require_in_range(self.gamma, "gamma", 0.0, 1.0)
        require_in_range(self.gae_lambda, "gae_lambda", 0.0, 1.0)
        require_in_range(self.lr, "lr", 0.0, None, low_inclusive=False)
        require_in_range(self.max_grad_norm, "max_grad_norm", 0.0, None, low_inclusive=False)
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
            "clip_frac": info["clip_frac"], "ratio": info["ratio"], "values": values.detach()}
    return loss, info


def sample_prompts(prompts: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` rows of ``prompts`` drawn without replacement (with replacement if n > rows)."""
    require_tensor(prompts, "prompts", ndim=2, kind="int", dims="(M, P)")
    M = prompts.shape[0]
    if n <= M:
        ix = torch.randperm(M, generator=generator)[:n]
    else:
        ix = torch.randint(M, (n,), generator=generator)
    return prompts[ix.to(prompts.device)]


@torch.no_grad()
def evaluate_policy(policy: GPT, ref_policy: GPT, prompts: torch.Tensor, reward_fn: Callable, max_new_tokens: int,
                    temperature: float, eos_id: Optional[int] = None, pad_id: int = 0, seed: int = 0) -> dict:
    """Mean score and mean KL(π_θ ‖ π_ref) per response (Σ_t k1, and Σ_t k3) on ``prompts``."""
    gen = torch.Generator().manual_seed(seed)
    ro = sample_responses(policy, prompts, max_new_tokens, temperature, eos_id, pad_id, gen)
    ref_logp = response_logprobs(ref_policy, ro.prompt, ro.response, temperature, ro.mask)
    logp = response_logprobs(policy, ro.prompt, ro.response, temperature, ro.mask)
    score = reward_fn(ro.prompt, ro.response, ro.mask).float()
    return {"score": float(score.mean()), "kl": float(kl_k1(logp, ref_logp, ro.mask).sum(1).mean()),
            "kl_k3": float(kl_k3(logp, ref_logp, ro.mask).sum(1).mean()),
            "length": float(ro.mask.sum(1).float().mean()), "rollout": ro}


def _new_history() -> dict:
    keys = ("update", "score", "kl", "kl_k3", "objective", "gold", "length", "policy_loss", "value_loss",
            "approx_kl", "clip_frac", "ratio_dev_first", "explained_var", "time_s", "tokens_per_s")
    return {k: [] for k in keys}


class _RLHFTrainerLoop:
    """The update loop shared by :class:`LMPPOTrainer` and :class:`~lmrl_course.rlhf.grpo.GroupTrainer`.

    A subclass provides ``make_batch(prompts)``, ``update(batch)``, ``cfg`` (with ``kl_coef``),
    ``device``, ``generator``, ``history``, ``updates``, ``_clock``, ``name`` and ``prompts_per_update``.
    """

    def step(self, prompts: torch.Tensor) -> dict:
        """One update on a batch of prompts; appends to and returns ``self.history``'s new row."""
        synchronize(self.device)
        t0 = time.perf_counter()
        batch = self.make_batch(prompts)
        stats = self.update(batch)
        synchronize(self.device)
        self._clock += time.perf_counter() - t0
        self.updates += 1
        kl_seq = batch["kl"].sum(1)  # (B,)
        k3 = kl_k3(batch["logp_old"], batch["ref_logp"], batch["mask"]).sum(1)
        n_tok = int(batch["mask"].sum())
        row = {"update": self.updates, "score": float(batch["score"].mean()), "kl": float(kl_seq.mean()),
               "kl_k3": float(k3.mean()),
               "objective": float((batch["score"] - self.cfg.kl_coef * kl_seq).mean()),
               "gold": float(batch["gold"].mean()) if "gold" in batch else float("nan"),
               "length": n_tok / batch["mask"].shape[0], "time_s": self._clock,
               "tokens_per_s": n_tok / max(batch["t_gen"], 1e-9), **stats}
        for k in self.history:
            self.history[k].append(row[k])
        return row

    def train(self, prompts: torch.Tensor, num_updates: int, progress: bool = False,
              callback: Optional[Callable[[dict], None]] = None) -> dict:
        """``num_updates`` updates, each on ``self.prompts_per_update`` prompts drawn from ``prompts`` (M, P)."""
        if isinstance(num_updates, bool) or not isinstance(num_updates, int) or num_updates < 1:
            raise ValueError(f"num_updates must be a positive int, got {num_updates!r}")
        require_tensor(prompts, "prompts", ndim=2, kind="int", dims="(M, P)")
        bar = None
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=num_updates, desc=self.name)
        for _ in range(num_updates):
            row = self.step(sample_prompts(prompts, self.prompts_per_update, self.generator))
            if callback is not None:
                callback(row)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        return self.history


class LMPPOTrainer(_RLHFTrainerLoop):
    """RLHF with PPO: trains ``policy`` (in place) against ``reward_fn`` with a KL penalty to ``ref_policy``.

    ``reward_fn(prompt, response, mask) -> (B,)`` scores whole responses (a reward model, or a rule).
    ``gold_fn`` (same signature, optional) is only logged, e.g. the annotator's own score while
    training on the reward model's. Same ``seed`` and device → the same run.
    """

    def __init__(self, policy: GPT, ref_policy: GPT, reward_fn: Callable, cfg: Optional[LMPPOConfig] = None,
                 eos_id: Optional[int] = None, pad_id: int = 0, device=None, seed: int = 0,
                 gold_fn: Optional[Callable] = None):
        cfg = LMPPOConfig() if cfg is None else cfg
        if not isinstance(cfg, LMPPOConfig):
            raise TypeError(f"cfg must be an LMPPOConfig, got {type(cfg).__name__}")
        if not isinstance(ref_policy, GPT):
            raise TypeError(f"ref_policy must be a GPT, got {type(ref_policy).__name__}")
        if ref_policy is policy:
            raise ValueError("ref_policy must be a frozen copy of the policy (copy.deepcopy), not the same object")
        if not callable(reward_fn):
            raise TypeError("reward_fn must be callable: reward_fn(prompt, response, mask) -> scores (B,)")
        self.cfg, self.eos_id, self.pad_id, self.gold_fn, self.reward_fn = cfg, eos_id, pad_id, gold_fn, reward_fn
        self.device = get_device(device)
        self.model = ActorCritic(policy).to(self.device)
        self.policy = policy
        self.ref_policy = ref_policy.to(self.device).eval()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.generator = torch.Generator().manual_seed(seed)
        self.history = _new_history()
        self.updates = 0
        self.name, self.prompts_per_update = "PPO", self.cfg.batch_size
        self._clock = 0.0

    # ------------------------------------------------------------------ 1-4: experience
    @torch.no_grad()
    def make_batch(self, prompts: torch.Tensor) -> dict:
        cfg = self.cfg
        prompts = prompts.to(self.device)
        synchronize(self.device)
        t0 = time.perf_counter()
        ro = sample_responses(self.policy, prompts, cfg.max_new_tokens, cfg.temperature, self.eos_id, self.pad_id,
                              self.generator)  # 1
        synchronize(self.device)
        t_gen = time.perf_counter() - t0
        mask = ro.mask
        self.model.eval()
        logp_old, values = self.model(ro.prompt, ro.response, cfg.temperature)  # π_θold, V_φ (one forward)
        logp_old, values = logp_old.masked_fill(~mask, 0.0), values.masked_fill(~mask, 0.0)
        ref_logp = response_logprobs(self.ref_policy, ro.prompt, ro.response, cfg.temperature, mask)  # 2
        score = self.reward_fn(ro.prompt, ro.response, mask).float().to(self.device)  # 2
        rewards, kl = compute_rewards(score, logp_old, ref_logp, mask, cfg.kl_coef)  # 3
        adv, ret = lm_gae(rewards, values, mask, cfg.gamma, cfg.gae_lambda)  # 4
        if cfg.whiten_advantages:
            adv = masked_whiten(adv, mask)
        batch = {"prompt": ro.prompt, "response": ro.response, "mask": mask, "logp_old": logp_old,
                 "sample_logp": ro.logp, "ref_logp": ref_logp, "values_old": values, "advantages": adv,
                 "returns": ret, "rewards": rewards, "score": score, "kl": kl, "t_gen": t_gen}
        if self.gold_fn is not None:
            batch["gold"] = self.gold_fn(ro.prompt, ro.response, mask).float()
        return batch

    # ------------------------------------------------------------------ 5: optimisation
    def update(self, batch: dict) -> dict:
        cfg = self.cfg
        B = batch["response"].shape[0]
        stats = {"policy_loss": [], "value_loss": [], "approx_kl": [], "clip_frac": []}
        ratio_dev_first = None
        self.model.train()
        keys = ("prompt", "response", "mask", "logp_old", "values_old", "advantages", "returns")
        for _ in range(cfg.update_epochs):
            perm = torch.randperm(B, generator=self.generator).to(self.device)
            for ix in torch.tensor_split(perm, cfg.num_minibatches):
                mb = {k: batch[k][ix] for k in keys}
                loss, info = lm_ppo_loss(self.model, mb, cfg)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
                self.optimizer.step()
                if ratio_dev_first is None:
                    m = mb["mask"].bool()
                    ratio_dev_first = float((info["ratio"][m] - 1).abs().max())
                for k in stats:
                    stats[k].append(float(info[k]))
        self.model.eval()
        out = {k: sum(v) / len(v) for k, v in stats.items()}
        out["ratio_dev_first"] = ratio_dev_first
        m = batch["mask"].bool()
        out["explained_var"] = explained_variance(batch["values_old"][m], batch["returns"][m])
        return out

    def config_dict(self) -> dict:
        return asdict(self.cfg)
