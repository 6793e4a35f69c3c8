"""A Bradley–Terry reward model: the GPT body with a scalar head, trained on preference pairs.

    r_φ(y) = w · h_L(y)_{last} + b           h: the GPT's final hidden states, read at the last real token
    P(y_c ≻ y_r) = σ(r_φ(y_c) − r_φ(y_r))     Bradley–Terry
    L(φ) = −mean log σ(r_φ(y_c) − r_φ(y_r))   = mean softplus(−(r_c − r_r))

The body starts from the pretrained language model (optionally only its first ``n_layer`` blocks,
which is faster and enough for a taste about words). The annotator of this course judges a response
line on its own, so the reward model reads the response tokens only.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..device import get_device, seed_everything
from ..gpt import GPT
from ..validation import require_same_shape, require_tensor
from .annotator import KeywordAnnotator
from .rollout import decode_responses, last_token_index, sample_responses

__all__ = ["RewardModel", "bradley_terry_loss", "PreferenceData", "make_preference_data", "encode_responses",
           "preference_data_from_texts", "train_reward_model", "preference_accuracy", "reward_model_fn"]


class RewardModel(nn.Module):
    """GPT body (a copy of ``body``, first ``n_layer`` blocks) + a linear scalar head.

    ``forward(idx, mask)`` -> scores (B,), read at the last position where ``mask`` is True. The
    buffers ``offset``/``scale`` standardise the raw head output (set by :func:`train_reward_model`
    from the training pairs), so that scores have mean ≈ 0 and std ≈ 1.
    """

    def __init__(self, body: GPT, n_layer: Optional[int] = None):
        super().__init__()
        if not isinstance(body, GPT):
            raise TypeError(f"body must be a lmrl_course.gpt.GPT, got {type(body).__name__}")
        body = copy.deepcopy(body)
        if n_layer is not None:
            if isinstance(n_layer, bool) or not isinstance(n_layer, int) or not 1 <= n_layer <= len(body.transformer.h):
                raise ValueError(f"n_layer must be in [1, {len(body.transformer.h)}], got {n_layer!r}")
            body.transformer.h = body.transformer.h[:n_layer]
        self.body = body
        self.head = nn.Linear(body.config.n_embd, 1)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)
        self.register_buffer("offset", torch.zeros(()))
        self.register_buffer("scale", torch.ones(()))

    def raw(self, idx: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Unstandardised head output at the last real token, (B,)."""
        require_tensor(idx, "idx", ndim=2, kind="int", dims="(B, T)")
        require_tensor(mask, "mask", ndim=2, dims="(B, T)")
        require_same_shape(idx, mask, "idx", "mask")
        last = last_token_index(mask)  # (B,)
        h = self.body.hidden_states(idx.long())  # (B, T, C)
        h_last = h[torch.arange(h.shape[0], device=h.device), last]  # (B, C)
        return self.head(h_last)[:, 0]  # (B,)

    def forward(self, idx: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return (self.raw(idx, mask) - self.offset) / self.scale  # (B,)


def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """−mean log σ(r_c − r_r), computed stably as mean softplus(r_r − r_c)."""
    require_tensor(r_chosen, "r_chosen", kind="float")
    require_tensor(r_rejected, "r_rejected", kind="float")
    require_same_shape(r_chosen, r_rejected, "r_chosen", "r_rejected")
    if r_chosen.numel() == 0:
        raise ValueError("r_chosen and r_rejected are empty: the loss needs at least one preference pair")
    return F.softplus(r_rejected - r_chosen).mean()


@dataclass
class PreferenceData:
    """Pairs of responses, the annotator's preferred one first. Tensors (M, N); texts lists of M.

    ``prompts`` (M, P), optional: the prompt both responses of pair i answer (DPO needs it; the reward
    model, which reads the response only, does not)."""

    chosen: torch.Tensor
    chosen_mask: torch.Tensor
    rejected: torch.Tensor
    rejected_mask: torch.Tensor
    chosen_text: list = field(default_factory=list)
    rejected_text: list = field(default_factory=list)
    prompts: Optional[torch.Tensor] = None

    def __len__(self) -> int:
        return self.chosen.shape[0]

    def _take(self, sl) -> "PreferenceData":
        return PreferenceData(self.chosen[sl], self.chosen_mask[sl], self.rejected[sl], self.rejected_mask[sl],
                              self.chosen_text[sl], self.rejected_text[sl],
                              None if self.prompts is None else self.prompts[sl])

    def split(self, n_first: int) -> tuple:
        """(first n_first pairs, the rest): a train / held-out split."""
        if not 0 < n_first < len(self):
            raise ValueError(f"n_first must be in (0, {len(self)}), got {n_first}")
        return self._take(slice(0, n_first)), self._take(slice(n_first, None))

    def to(self, device) -> "PreferenceData":
        return PreferenceData(self.chosen.to(device), self.chosen_mask.to(device), self.rejected.to(device),
                              self.rejected_mask.to(device), self.chosen_text, self.rejected_text,
                              None if self.prompts is None else self.prompts.to(device))


@torch.no_grad()
def make_preference_data(policy: GPT, prompts: torch.Tensor, tokenizer, annotator: KeywordAnnotator,
                         max_new_tokens: int, temperature: float = 1.0, eos_id: Optional[int] = None,
                         pad_id: int = 0, generator: Optional[torch.Generator] = None,
                         batch_size: int = 256) -> PreferenceData:
    """Two responses per prompt from ``policy``; the annotator picks one or skips the pair (a tie).

    Returns the labelled pairs in prompt order (skipped pairs left out).
    """
    if not isinstance(annotator, KeywordAnnotator):
        raise TypeError(f"annotator must be a KeywordAnnotator, got {type(annotator).__name__}")
    require_tensor(prompts, "prompts", ndim=2, kind="int", dims="(M, P)")
    cols = {k: [] for k in ("c", "cm", "r", "rm", "ct", "rt", "p")}
    for i in range(0, prompts.shape[0], batch_size):
        p = prompts[i:i + batch_size]
        both = torch.cat([p, p], dim=0)  # (2b, P)
        ro = sample_responses(policy, both, max_new_tokens, temperature, eos_id, pad_id, generator)
        texts = decode_responses(tokenizer, ro.response, ro.mask, strip_eos=eos_id)
        b = p.shape[0]
        for j in range(b):
            choice = annotator.prefer(texts[j], texts[b + j])
            if choice is None:
                continue
            cols["p"].append(p[j])
            c, r = (j, b + j) if choice == 0 else (b + j, j)
            cols["c"].append(ro.response[c]); cols["cm"].append(ro.mask[c]); cols["ct"].append(texts[c])
            cols["r"].append(ro.response[r]); cols["rm"].append(ro.mask[r]); cols["rt"].append(texts[r])
    if not cols["c"]:
        raise ValueError("the annotator skipped every pair (all ties): sample more prompts or longer responses")
    st = lambda xs: torch.stack(xs)  # noqa: E731
    return PreferenceData(st(cols["c"]), st(cols["cm"]), st(cols["r"]), st(cols["rm"]), cols["ct"], cols["rt"],
                          st(cols["p"]))


def encode_responses(texts, tokenizer, max_new_tokens: int, eos_id: Optional[int] = None, pad_id: int = 0) -> tuple:
    """Token ids and mask (M, N) of response texts, as :func:`sample_responses` would store them: the text cut
    to N characters, then ``eos_id`` appended when it fits, ``pad_id`` after."""
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
    ids = torch.full((len(texts), max_new_tokens), pad_id, dtype=torch.long)
    mask = torch.zeros(len(texts), max_new_tokens, dtype=torch.bool)
    for i, t in enumerate(texts):
        e = tokenizer.encode(t)[:max_new_tokens]
        if eos_id is not None and len(e) < max_new_tokens:
            e = e + [eos_id]
        if not e:
            raise ValueError(f"text {i} is empty and there is no eos_id: a response needs one token")
        ids[i, :len(e)] = torch.tensor(e)
        mask[i, :len(e)] = True
    return ids, mask


def preference_data_from_texts(texts_a, texts_b, tokenizer, annotator: KeywordAnnotator, max_new_tokens: int,
                               eos_id: Optional[int] = None, pad_id: int = 0,
                               prompts: Optional[torch.Tensor] = None) -> PreferenceData:
    """The annotator compares ``texts_a[i]`` with ``texts_b[i]``; ties (no preference) are left out.
    ``prompts`` (len(texts_a), P), optional: the prompt of pair i, kept with the pairs that are kept."""
    if len(texts_a) != len(texts_b):
        raise ValueError(f"texts_a and texts_b must have the same length, got {len(texts_a)} and {len(texts_b)}")
    if prompts is not None:
        require_tensor(prompts, "prompts", ndim=2, kind="int", dims="(M, P)")
        if prompts.shape[0] != len(texts_a):
            raise ValueError(f"prompts has {prompts.shape[0]} rows for {len(texts_a)} pairs")
    chosen, rejected, keep = [], [], []
    for i, (a, b) in enumerate(zip(texts_a, texts_b)):
        a, b = a[:max_new_tokens], b[:max_new_tokens]
        choice = annotator.prefer(a, b)
        if choice is None:
            continue
        chosen.append(a if choice == 0 else b)
        rejected.append(b if choice == 0 else a)
        keep.append(i)
    if not chosen:
        raise ValueError("the annotator skipped every pair (all ties)")
    c, cm = encode_responses(chosen, tokenizer, max_new_tokens, eos_id, pad_id)
    r, rmask = encode_responses(rejected, tokenizer, max_new_tokens, eos_id, pad_id)
    return PreferenceData(c, cm, r, rmask, chosen, rejected, None if prompts is None else prompts[keep])


@torch.no_grad()
def preference_accuracy(rm: RewardModel, data: PreferenceData, batch_size: int = 256) -> float:
    """Fraction of pairs where r_φ(chosen) > r_φ(rejected)."""
    was = rm.training
    rm.eval()
    dev = next(rm.parameters()).device
    right = 0
    for i in range(0, len(data), batch_size):
        rc = rm(data.chosen[i:i + batch_size].to(dev), data.chosen_mask[i:i + batch_size].to(dev))
        rr = rm(data.rejected[i:i + batch_size].to(dev), data.rejected_mask[i:i + batch_size].to(dev))
        right += int((rc > rr).sum())
    rm.train(was)
    return right / len(data)


def train_reward_model(rm: RewardModel, data: PreferenceData, epochs: int = 2, batch_size: int = 32,
                       lr: float = 3e-4, weight_decay: float = 0.0, device=None, seed: int = 0,
                       progress: bool = False, eval_data: Optional[PreferenceData] = None) -> dict:
    """Minimise the Bradley–Terry loss with AdamW over shuffled minibatches of pairs.

    Returns a history: ``step``, ``loss``, ``acc`` (minibatch accuracy), ``eval_acc`` (after each epoch,
    when ``eval_data`` is given). Afterwards sets ``rm.offset``/``rm.scale`` so that the scores of the
    training responses have mean 0 and std 1. The model is left in eval mode.
    """
    if not isinstance(rm, RewardModel):
        raise TypeError(f"rm must be a RewardModel, got {type(rm).__name__}")
    if not isinstance(data, PreferenceData) or len(data) == 0:
        raise ValueError("data must be a non-empty PreferenceData")
    for name, v in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    dev = get_device(device) if device is not None else next(rm.parameters()).device
    rm.to(dev)
    gen = seed_everything(seed)
    data = data.to(dev)
    opt = torch.optim.AdamW(rm.parameters(), lr=lr, weight_decay=weight_decay)
    hist = {"step": [], "loss": [], "acc": [], "eval_acc": []}
    M = len(data)
    steps_per_epoch = (M + batch_size - 1) // batch_size
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=epochs * steps_per_epoch, desc="reward model")
    rm.train()
    step = 0
    for _ in range(epochs):
        perm = torch.randperm(M, generator=gen).to(dev)
        for i in range(0, M, batch_size):
            ix = perm[i:i + batch_size]
            rc = rm.raw(data.chosen[ix], data.chosen_mask[ix])  # (b,)
            rr = rm.raw(data.rejected[ix], data.rejected_mask[ix])  # (b,)
            loss = bradley_terry_loss(rc, rr)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(rm.parameters(), 1.0)
            opt.step()
            step += 1
            hist["step"].append(step)
            hist["loss"].append(float(loss.detach()))
            hist["acc"].append(float((rc > rr).float().mean().detach()))
            if bar is not None:
                bar.update(1)
        if eval_data is not None:
            hist["eval_acc"].append(preference_accuracy(rm, eval_data))
    if bar is not None:
        bar.close()
    rm.eval()
    with torch.no_grad():
        raw = torch.cat([rm.raw(data.chosen[i:i + 256], data.chosen_mask[i:i + 256]) for i in range(0, M, 256)]
                        + [rm.raw(data.rejected[i:i + 256], data.rejected_mask[i:i + 256]) for i in range(0, M, 256)])
        rm.offset.fill_(float(raw.mean()))
        rm.scale.fill_(max(float(raw.std()), 1e-6))
    return hist


def reward_model_fn(rm: RewardModel):
    """A reward function ``(prompt, response, mask) -> scores (B,)`` that asks the reward model."""
    if not isinstance(rm, RewardModel):
        raise TypeError(f"rm must be a RewardModel, got {type(rm).__name__}")

    @torch.no_grad()
    def reward_fn(prompt: torch.Tensor, response: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        rm.eval()
        return rm(response, mask)

    return reward_fn
