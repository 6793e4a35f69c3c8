"""Text generation as reinforcement learning: sample responses with their per-token log-probs.

The prompt x_{1..P} is the state, every sampled character an action a_t ~ π_θ(· | x_{<t}) at the
sampling temperature τ, and a response ends at the end-of-sequence token (``eos_id``, for the course
the newline: one line of verse) or after ``max_new_tokens``. The rollout stores for every response
token t (shape (B, N)):

    response[b, t]   the sampled id (``pad_id`` after the end)
    logp[b, t]       log π_θ(a_t | x_{<t}) = log_softmax(z_t / τ)[a_t]  — at the SAMPLING temperature
    mask[b, t]       True for real tokens (the EOS token included), False for padding

The mask is made at sampling time, from when each response stopped; it is never recomputed from the
token ids (the pad id may well be a real character — with the course's vocabulary id 0 is ``\\n``).

Sampling uses a key/value cache: the prompt is read once, then each step feeds one token and attends
to the cached keys and values of all earlier positions, B·(P+N) token-positions of work instead of
B·Σ_t (P+t). :func:`response_logprobs` recomputes the same log-probs with one ordinary forward pass.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from ..attention import merge_heads, split_heads
from ..gpt import GPT, sample_next_token
from ..validation import require_in_range, require_mask, require_tensor

__all__ = ["LMRollout", "sample_responses", "response_logprobs", "response_logits", "decode_responses",
           "last_token_index"]


@dataclass
class LMRollout:
    """A batch of sampled responses. prompt (B, P); response, logp, mask, entropy (B, N).

    ``entropy[b, t]`` = H(softmax(z_t / τ)), the entropy of the distribution token t was drawn from (0 at padding).
    """

    prompt: torch.Tensor
    response: torch.Tensor
    logp: torch.Tensor
    mask: torch.Tensor
    temperature: float
    eos_id: Optional[int]
    pad_id: int
    entropy: Optional[torch.Tensor] = None

    @property
    def truncated(self) -> torch.Tensor:
        """(B,) bool: the response reached N tokens without sampling EOS (every row when there is no EOS id)."""
        if self.eos_id is None:
            return torch.ones(self.response.shape[0], dtype=torch.bool, device=self.response.device)
        return ~((self.response == self.eos_id) & self.mask).any(dim=1)

    @property
    def sequences(self) -> torch.Tensor:
        """prompt and response side by side, (B, P + N)."""
        return torch.cat([self.prompt, self.response], dim=1)

    @property
    def lengths(self) -> torch.Tensor:
        """Number of real response tokens per row (EOS included), (B,)."""
        return self.mask.sum(dim=1)

    def num_tokens(self) -> int:
        return int(self.mask.sum())


def _check_model(model) -> GPT:
    if not isinstance(model, GPT):
        raise TypeError(f"model must be a lmrl_course.gpt.GPT, got {type(model).__name__}")
    if not model.config.causal:
        raise ValueError("sampling needs a causal GPT (config.causal=True)")
    return model


def _check_prompt(model: GPT, prompt: torch.Tensor, max_new_tokens: int) -> None:
    require_tensor(prompt, "prompt", ndim=2, kind="int", dims="(B, P)")
    if prompt.shape[0] < 1 or prompt.shape[1] < 1:
        raise ValueError(f"prompt must hold at least one prompt of at least one token, got shape {tuple(prompt.shape)}")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
    total = prompt.shape[1] + max_new_tokens
    if total > model.config.block_size:
        raise ValueError(f"prompt length P={prompt.shape[1]} + max_new_tokens={max_new_tokens} = {total} exceeds "
                         f"the model's block_size={model.config.block_size}; shorten the prompts")
    V = model.config.vocab_size
    if bool(((prompt < 0) | (prompt >= V)).any()):
        raise ValueError(f"prompt contains token ids outside [0, {V})")


def _check_ids(eos_id, pad_id, V) -> None:
    if eos_id is not None and (isinstance(eos_id, bool) or not isinstance(eos_id, int) or not 0 <= eos_id < V):
        raise ValueError(f"eos_id must be None or a token id in [0, {V}), got {eos_id!r}")
    if isinstance(pad_id, bool) or not isinstance(pad_id, int) or not 0 <= pad_id < V:
        raise ValueError(f"pad_id must be a token id in [0, {V}), got {pad_id!r}")


def _block_with_cache(block, x: torch.Tensor, cache: Optional[tuple], start: int) -> tuple:
    """One transformer block on the new positions x (B, Tn, C) (positions start ..), attending to cached
    keys/values too (cached keys are stored already rotated, at their own positions)."""
    attn = block.attn
    h = block.ln_1(x)
    q, k, v = attn.c_attn(h).split(attn.n_embd, dim=2)  # 3 x (B, Tn, C)
    q, k, v = split_heads(q, attn.n_head), split_heads(k, attn.n_head), split_heads(v, attn.n_head)  # (B, H, Tn, hs)
    q, k = attn.rotate(q, k, start)  # rotary positions (if the model has them): the new positions' angles
    if cache is not None:
        k = torch.cat([cache[0], k], dim=2)  # (B, H, Tp+Tn, hs)
        v = torch.cat([cache[1], v], dim=2)
    # new positions see all cached ones; among themselves only the past (prefill: Tn = P, no cache)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=cache is None and q.shape[2] > 1)  # (B, H, Tn, hs)
    x = x + attn.c_proj(merge_heads(y))  # (B, Tn, C)
    x = x + block.mlp(block.ln_2(x))  # (B, Tn, C)
    return x, (k, v)


def _forward_with_cache(model: GPT, idx: torch.Tensor, start: int, caches: list) -> torch.Tensor:
    """Logits of the last new position, (B, V); ``caches`` (one per layer) is updated in place."""
    x = model._embed(idx, start)  # (B, Tn, C)
    for i, block in enumerate(model.transformer.h):
        x, caches[i] = _block_with_cache(block, x, caches[i], start)
    x = model.transformer.ln_f(x[:, -1:, :])  # (B, 1, C)
    return model.lm_head(x)[:, 0, :]  # (B, V)


@torch.no_grad()
def sample_responses(model: GPT, prompt: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                     eos_id: Optional[int] = None, pad_id: int = 0,
                     generator: Optional[torch.Generator] = None) -> LMRollout:
    """Sample one response per prompt row and keep its per-token log-probs and mask.

    a_t ~ softmax(z_t / τ),  logp_t = log softmax(z_t / τ)[a_t].  All prompts have the same length P
    (no left padding). A row stops after it samples ``eos_id`` (kept, with mask True); later positions
    hold ``pad_id`` with mask False. ``temperature`` must be > 0 (greedy decoding is not a stochastic
    policy). Pass a seeded CPU ``generator`` for repeatable samples on every device. The model's
    train/eval mode is restored afterwards; sampling itself runs in eval mode.
    """
    model = _check_model(model)
    _check_prompt(model, prompt, max_new_tokens)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"temperature must be a number > 0 (the policy is softmax(z / τ)), got {temperature!r}")
    _check_ids(eos_id, pad_id, model.config.vocab_size)
    was_training = model.training
    model.eval()
    try:
        prompt = prompt.long()
        B, P = prompt.shape
        device = prompt.device
        caches = [None] * len(model.transformer.h)
        logits = _forward_with_cache(model, prompt, 0, caches)  # (B, V)
        response = torch.full((B, max_new_tokens), pad_id, dtype=torch.long, device=device)  # (B, N)
        logp = torch.zeros(B, max_new_tokens, device=device)  # (B, N)
        mask = torch.zeros(B, max_new_tokens, dtype=torch.bool, device=device)  # (B, N)
        entropy = torch.zeros(B, max_new_tokens, device=device)  # (B, N)
        alive = torch.ones(B, dtype=torch.bool, device=device)  # (B,)
        for t in range(max_new_tokens):
            token = sample_next_token(logits, temperature, generator=generator)[:, 0]  # (B,)
            lp = torch.log_softmax(logits.float() / temperature, dim=-1)  # (B, V)
            logp[:, t] = lp.gather(1, token[:, None])[:, 0].masked_fill(~alive, 0.0)
            entropy[:, t] = -(lp.exp() * lp).sum(-1).masked_fill(~alive, 0.0)
            response[:, t] = token.where(alive, torch.full_like(token, pad_id))
            mask[:, t] = alive
            if eos_id is not None:
                alive = alive & (token != eos_id)
            if t + 1 == max_new_tokens or not bool(alive.any()):
                break
            logits = _forward_with_cache(model, token[:, None], P + t, caches)  # (B, V)
    finally:
        model.train(was_training)
    return LMRollout(prompt, response, logp, mask, float(temperature), eos_id, pad_id, entropy)


def response_logits(model: GPT, prompt: torch.Tensor, response: torch.Tensor) -> torch.Tensor:
    """Logits z_t that predicted each response token, from one forward pass over prompt+response.

    prompt (B, P), response (B, N) -> (B, N, V). Causal attention means padding, which always comes
    after the real tokens, cannot change the logits of a real token. Gradients flow (no ``no_grad``).
    """
    require_tensor(prompt, "prompt", ndim=2, kind="int", dims="(B, P)")
    require_tensor(response, "response", ndim=2, kind="int", dims="(B, N)")
    if prompt.shape[0] != response.shape[0]:
        raise ValueError(f"prompt and response must have the same batch size, got {prompt.shape[0]} and {response.shape[0]}")
    P = prompt.shape[1]
    idx = torch.cat([prompt, response], dim=1).long()  # (B, P+N)
    logits, _ = model(idx[:, :-1])  # (B, P+N-1, V)
    return logits[:, P - 1:, :]  # (B, N, V)


def response_logprobs(model: GPT, prompt: torch.Tensor, response: torch.Tensor, temperature: float = 1.0,
                      mask: Optional[torch.Tensor] = None, with_entropy: bool = False):
    """log π(a_t | x_<t) = log_softmax(z_t / τ)[a_t] for every response token, (B, N); 0 where ``mask`` is False.

    ``with_entropy=True`` returns ``(logp, entropy)``, entropy[b, t] = H(softmax(z_t / τ)) = −Σ_v p_v log p_v
    from the same forward pass (no gradient; 0 where ``mask`` is False), as :class:`LMRollout` stores it.
    """
    require_in_range(temperature, "temperature", 0.0, None, low_inclusive=False)
    logits = response_logits(model, prompt, response)  # (B, N, V)
    lp_all = torch.log_softmax(logits.float() / temperature, dim=-1)  # (B, N, V)
    logp = lp_all.gather(2, response.long()[..., None])[..., 0]  # (B, N)
    entropy = None
    if with_entropy:
        with torch.no_grad():
            entropy = -(lp_all.exp() * lp_all).sum(-1)  # (B, N)
    if mask is not None:
        require_tensor(mask, "mask", ndim=2, dims="(B, N)")
        require_mask(mask, "mask")
        logp = logp.masked_fill(~mask.bool(), 0.0)
        if with_entropy:
            entropy = entropy.masked_fill(~mask.bool(), 0.0)
    return (logp, entropy) if with_entropy else logp


def last_token_index(mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real token of every row, (B,): mask.sum − 1. Every row needs one real token."""
    require_tensor(mask, "mask", ndim=2, dims="(B, N)")
    require_mask(mask, "mask")
    lengths = mask.long().sum(dim=1)  # (B,)
    if bool((lengths == 0).any()):
        raise ValueError("every response needs at least one real token (a row of mask is all False)")
    return lengths - 1


def decode_responses(tokenizer, response: torch.Tensor, mask: torch.Tensor, strip_eos: Optional[int] = None) -> list:
    """The text of every response, its padding dropped (and its EOS token, when ``strip_eos`` is its id)."""
    out = []
    for ids, m in zip(response.tolist(), mask.tolist()):
        ids = [i for i, keep in zip(ids, m) if keep]
        if strip_eos is not None and ids and ids[-1] == strip_eos:
            ids = ids[:-1]
        out.append(tokenizer.decode(ids))
    return out
