"""What every RLHF trainer of the course shares: the configuration, the sampling step, one clipped-surrogate
update loop, the history and the training loop. :class:`~lmrl_course.rlhf.lm_ppo.LMPPOTrainer` (value head,
GAE) and :class:`~lmrl_course.rlhf.grpo.GroupTrainer` (GRPO, RLOO: a group baseline) differ only in how
they turn a batch of scored responses into advantages (``make_batch``) and in their loss (``loss``).

One update::

    1  sample a response for each prompt with π_θold at temperature τ      -> response, mask, entropy
    2  score it: s = reward_fn(prompt, y) − missing_eos_penalty · [no EOS before N tokens]
    3  the subclass's make_batch: log-probs of π_θold and π_ref, advantages
    4  for each epoch, each minibatch of responses: loss, one Adam step, gradient norm clipped
    5  log the row: score, gold, KL (Σ_t k1 and Σ_t k3 per response), entropy, truncated fraction, β, ...
    6  adaptive β (optional, Ziegler et al. 2019): β moves towards the KL target
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn as nn

from ..device import get_device, synchronize
from ..gpt import GPT
from ..validation import require_in_range, require_tensor
from .kl import AdaptiveKLController, kl_k3
from .rollout import sample_responses

__all__ = ["RLHFConfig", "RLHFTrainer", "sample_prompts", "HISTORY_KEYS"]

HISTORY_KEYS = ("update", "score", "kl", "kl_k3", "objective", "gold", "length", "truncated_fraction", "entropy", "kl_coef",
                "policy_loss", "value_loss", "kl_loss", "approx_kl", "clip_frac", "ratio_dev_first", "explained_var", "time_s",
                "tokens_per_s")


@dataclass
class RLHFConfig:
    """Hyper-parameters every RLHF trainer has."""

    max_new_tokens: int = 64      # N: longest response
    temperature: float = 0.7      # τ: sampling temperature; every log-prob is taken at τ
    kl_coef: float = 0.05         # β (the initial β when kl_target is set)
    clip_coef: float = 0.2        # ε: ratio clip
    lr: float = 1e-4              # Adam
    update_epochs: int = 2
    num_minibatches: int = 2
    max_grad_norm: float = 1.0
    missing_eos_penalty: float = 0.0  # subtracted from the score of a response that never ends (TRL's option)
    kl_target: Optional[float] = None  # adaptive β towards this KL per response (nats); None: β stays fixed
    kl_horizon: int = 10_000      # the adaptive controller's horizon, in responses

    _POSITIVE_INTS = ("max_new_tokens", "update_epochs", "num_minibatches", "kl_horizon")

    def __post_init__(self):
        for name in self._POSITIVE_INTS:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{type(self).__name__}.{name} must be a positive int, got {v!r}")
        require_in_range(self.temperature, "temperature", 0.0, None, low_inclusive=False)
        require_in_range(self.kl_coef, "kl_coef", 0.0, None)
        require_in_range(self.clip_coef, "clip_coef", 0.0, None, low_inclusive=False)
        require_in_range(self.lr, "lr", 0.0, None, low_inclusive=False)
        require_in_range(self.max_grad_norm, "max_grad_norm", 0.0, None, low_inclusive=False)
        require_in_range(self.missing_eos_penalty, "missing_eos_penalty", 0.0, None)
        if self.kl_target is not None:
            require_in_range(self.kl_target, "kl_target", 0.0, None, low_inclusive=False)


def sample_prompts(prompts: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` rows of ``prompts`` drawn without replacement (with replacement if n > rows)."""
    require_tensor(prompts, "prompts", ndim=2, kind="int", dims="(M, P)")
    M = prompts.shape[0]
    if n <= M:
        ix = torch.randperm(M, generator=generator)[:n]
    else:
        ix = torch.randint(M, (n,), generator=generator)
    return prompts[ix.to(prompts.device)]


class RLHFTrainer:
    """Base class. A subclass sets ``self.model`` (the module the optimiser trains, the policy inside it),
    ``name``, ``prompts_per_update``, ``loss_keys`` and provides ``make_batch(prompts)`` and
    ``loss(minibatch) -> (loss, info)``; ``extra_stats(batch)`` may add logged figures."""

    name = "RLHF"
    loss_keys: tuple = ()

    def __init__(self, policy: GPT, ref_policy: GPT, reward_fn: Callable, cfg: RLHFConfig, eos_id: Optional[int],
                 pad_id: int, device, seed: int, gold_fn: Optional[Callable]):
        if not isinstance(policy, GPT) or not isinstance(ref_policy, GPT):
            raise TypeError("policy and ref_policy must be lmrl_course.gpt.GPT models")
        if ref_policy is policy:
            raise ValueError("ref_policy must be a frozen copy of the policy (copy.deepcopy), not the same object")
        if not callable(reward_fn):
            raise TypeError("reward_fn must be callable: reward_fn(prompt, response, mask) -> scores (B,)")
        if gold_fn is not None and not callable(gold_fn):
            raise TypeError("gold_fn must be None or callable like reward_fn")
        self.cfg, self.eos_id, self.pad_id, self.gold_fn, self.reward_fn = cfg, eos_id, pad_id, gold_fn, reward_fn
        self.device = get_device(device)
        self.policy = policy.to(self.device)
        self.ref_policy = ref_policy.to(self.device).eval()
        self.generator = torch.Generator().manual_seed(seed)
        self.history = {k: [] for k in HISTORY_KEYS}
        self.updates = 0
        self._clock = 0.0
        self.kl_ctl = AdaptiveKLController(cfg.kl_coef, cfg.kl_target, cfg.kl_horizon) if cfg.kl_target else None

    def _init_optimizer(self) -> None:
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.cfg.lr)

    @property
    def kl_coef(self) -> float:
        """The β of the next batch (fixed, or the adaptive controller's current value)."""
        return self.cfg.kl_coef if self.kl_ctl is None else self.kl_ctl.value

    # ------------------------------------------------------------------ 1-2: sample and score
    @torch.no_grad()
    def sample(self, prompts: torch.Tensor) -> dict:
        """Responses to ``prompts`` (B, P), scored: the batch's common fields."""
        cfg = self.cfg
        synchronize(self.device)
        t0 = time.perf_counter()
        ro = sample_responses(self.policy, prompts.to(self.device), cfg.max_new_tokens, cfg.temperature, self.eos_id,
                              self.pad_id, self.generator)
        synchronize(self.device)
        t_gen = time.perf_counter() - t0
        truncated = ro.truncated  # (B,) no EOS within N tokens
        score = self.reward_fn(ro.prompt, ro.response, ro.mask).float().to(self.device)  # (B,)
        score = score - cfg.missing_eos_penalty * truncated.float()
        batch = {"prompt": ro.prompt, "response": ro.response, "mask": ro.mask, "score": score,
                 "truncated": truncated, "entropy": ro.entropy, "t_gen": t_gen}
        if self.gold_fn is not None:
            batch["gold"] = self.gold_fn(ro.prompt, ro.response, ro.mask).float()
        return batch

    # ------------------------------------------------------------------ 4: optimisation (shared)
    def update(self, batch: dict) -> dict:
        """``update_epochs`` passes over ``num_minibatches`` shuffled minibatches of responses."""
        cfg = self.cfg
        B = batch["response"].shape[0]
        stats, ratio_dev_first = {}, None
        self.model.train()
        for _ in range(cfg.update_epochs):
            perm = torch.randperm(B, generator=self.generator).to(self.device)
            for ix in torch.tensor_split(perm, cfg.num_minibatches):
                mb = {k: batch[k][ix] for k in self.loss_keys}
                loss, info = self.loss(mb)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
                self.optimizer.step()
                if ratio_dev_first is None:  # π_θ = π_θold here: the ratio must be exactly 1
                    ratio_dev_first = float((info["ratio"][mb["mask"].bool()] - 1).abs().max())
                for k, v in info.items():
                    if v.ndim == 0:
                        stats.setdefault(k, []).append(float(v))
        self.model.eval()
        out = {k: sum(v) / len(v) for k, v in stats.items()}
        out["ratio_dev_first"] = ratio_dev_first
        return out

    def extra_stats(self, batch: dict) -> dict:
        return {}

    # ------------------------------------------------------------------ 5-6: log, adapt β
    def step(self, prompts: torch.Tensor) -> dict:
        """One update on a batch of prompts; appends to and returns ``self.history``'s new row."""
        synchronize(self.device)
        t0 = time.perf_counter()
        beta = self.kl_coef
        batch = self.make_batch(prompts)
        stats = self.update(batch)
        synchronize(self.device)
        self._clock += time.perf_counter() - t0
        self.updates += 1
        m = batch["mask"]
        kl_seq = batch["kl"].sum(1)  # (B,) Σ_t k1
        k3 = kl_k3(batch["logp_old"], batch["ref_logp"], m).sum(1)  # (B,) Σ_t k3
        n_tok = int(m.sum())
        row = {"update": self.updates, "score": float(batch["score"].mean()), "kl": float(kl_seq.mean()),
               "kl_k3": float(k3.mean()), "objective": float((batch["score"] - beta * kl_seq).mean()),
               "gold": float(batch["gold"].mean()) if "gold" in batch else float("nan"),
               "length": n_tok / m.shape[0], "truncated_fraction": float(batch["truncated"].float().mean()),
               "entropy": float(batch["entropy"][m].mean()), "kl_coef": beta, "time_s": self._clock,
               "tokens_per_s": n_tok / max(batch["t_gen"], 1e-9), "value_loss": float("nan"), "kl_loss": float("nan"),
               "explained_var": float("nan"), **stats, **self.extra_stats(batch)}
        for k in self.history:
            self.history[k].append(row[k])
        if self.kl_ctl is not None:
            self.kl_ctl.update(row["kl"], m.shape[0])
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
