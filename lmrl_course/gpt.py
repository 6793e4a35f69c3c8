"""A small GPT (decoder-only transformer) for character-level language modelling.

    h⁰_t = E[x_t] + P[t]                                   token + position embeddings
                                                           (pos_encoding="rope": h⁰_t = E[x_t], and every
                                                           attention layer rotates q_t, k_t by t instead)
    a = h + Attn(LN(h));  h' = a + MLP(LN(a))              one pre-LayerNorm block, n_layer times
    z_t = LN_f(h_t) Eᵀ                                     logits; the output matrix is the embedding E (tied)
    p_θ(x_{t+1} | x_≤t) = softmax(z_t)

The file follows the layout of nanoGPT's ``model.py``: a config dataclass, the MLP, the block, the
model, and sampling helpers.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import CausalSelfAttention
from .validation import on_host, require_ids_in_range, require_tensor


POS_ENCODINGS = ("learned", "rope")


@dataclass
class GPTConfig:
    """Size of the model. V = ``vocab_size``, T_max = ``block_size``, C = ``n_embd``, H = ``n_head``."""

    vocab_size: int
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True  # biases in Linear and LayerNorm layers
    causal: bool = True  # False removes the attention mask: the model can read the future ("cheat")
    init_std: Optional[float] = None  # std of the Linear weights at init; None = 1/√fan_in, 0.02 = GPT-2's (see GPT)
    pos_encoding: str = "learned"  # "learned": a learned P[t] added to the input; "rope": rotary q/k (attention.py)

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive int, got {v!r}")
        if self.n_embd % self.n_head != 0:
            raise ValueError(f"GPTConfig: n_embd={self.n_embd} must be divisible by n_head={self.n_head}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"GPTConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.init_std is not None and not (isinstance(self.init_std, (int, float)) and self.init_std > 0):
            raise ValueError(f"GPTConfig.init_std must be None or a positive number, got {self.init_std!r}")
        if self.pos_encoding not in POS_ENCODINGS:
            raise ValueError(f"GPTConfig.pos_encoding must be one of {POS_ENCODINGS}, got {self.pos_encoding!r}")
        if self.pos_encoding == "rope" and (self.n_embd // self.n_head) % 2:
            raise ValueError(f"GPTConfig: rotary positions rotate channel pairs, so the head size n_embd/n_head = "
                             f"{self.n_embd // self.n_head} must be even")

    def to_dict(self) -> dict:
        return asdict(self)


class MLP(nn.Module):
    """MLP(x) = W₂ GELU(W₁ x + b₁) + b₂ with a hidden width of 4C."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))  # (B, T, C)


class Block(nn.Module):
    """One transformer block, pre-LayerNorm: h = h + Attn(LN₁(h)); h = h + MLP(LN₂(h))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        if return_weights:
            a, weights = self.attn(self.ln_1(x), return_weights=True)  # (B, T, C), (B, H, T, T)
            x = x + a
            x = x + self.mlp(self.ln_2(x))  # (B, T, C)
            return x, weights
        x = x + self.attn(self.ln_1(x))  # (B, T, C)
        x = x + self.mlp(self.ln_2(x))  # (B, T, C)
        return x


EMBED_STD = 0.02  # std of the token and position embeddings at init (GPT-2's value)


class GPT(nn.Module):
    """Decoder-only transformer language model (see the module docstring for the equations).

    Initialisation: embeddings E, P ~ N(0, 0.02²); Linear weights ~ N(0, σ²) with σ = 1/√fan_in
    (``init_std=None``, the default: a matmul then keeps unit-variance inputs at unit variance) or a
    fixed σ = ``init_std`` (0.02 is GPT-2's init, tuned for C = 768); the two projections that write
    into the residual stream (attention and MLP ``c_proj``) get std s/√(2·n_layer) with s = ``init_std``
    or 0.02, so the residual stream's variance does not grow with depth; biases 0. At C = 128, σ = 0.02
    is 4.4× smaller than 1/√C, the queries and keys start with variance ≈ C·0.02² = 0.05 instead of
    ≈ 1, and the model learns markedly slower (notebook 03, section 7, and bench/bench_gpt_train.py).
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"config must be a GPTConfig, got {type(config).__name__}")
        self.config = config
        modules = dict(wte=nn.Embedding(config.vocab_size, config.n_embd))  # E: (V, C)
        if config.pos_encoding == "learned":
            modules["wpe"] = nn.Embedding(config.block_size, config.n_embd)  # P: (T_max, C)
        self.transformer = nn.ModuleDict(dict(
            **modules,
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # weight tying: z = h Eᵀ
        self.apply(self._init_weights)
        # the projections into the residual stream: std s / √(2·n_layer)
        resid_std = (EMBED_STD if config.init_std is None else config.init_std) / math.sqrt(2 * config.n_layer)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=resid_std)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            if module is self.lm_head:  # tied to the token embedding E: keep the embedding's std
                std = EMBED_STD
            elif self.config.init_std is None:
                std = module.in_features ** -0.5  # 1/√fan_in
            else:
                std = self.config.init_std
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=EMBED_STD)

    # ------------------------------------------------------------------ checks
    def _check_idx(self, idx: torch.Tensor, name: str = "idx") -> None:
        require_tensor(idx, name, ndim=2, kind="int", dims="(B, T)")
        T = idx.shape[1]
        if T > self.config.block_size:
            raise ValueError(f"{name} has length T={T}, longer than block_size={self.config.block_size}; "
                             f"crop it to the last {self.config.block_size} tokens")
        if T == 0:
            raise ValueError(f"{name} must contain at least one token, got shape {tuple(idx.shape)}")
        # ids in [0, V): checked on the CPU only, so that a GPU forward pass never waits for the host
        require_ids_in_range(idx, name, self.config.vocab_size)

    # ------------------------------------------------------------------ forward passes
    def _embed(self, idx: torch.Tensor, start: int = 0) -> torch.Tensor:
        """h⁰ of the tokens ``idx`` (B, T) at positions start .. start+T-1: E[x_t] (+ P[t] when learned)."""
        T = idx.shape[1]
        if idx.dtype not in (torch.int32, torch.int64):  # nn.Embedding reads int32/int64 ids only (e.g. not uint8)
            idx = idx.long()
        x = self.transformer.wte(idx)  # (B, T, C)
        if "wpe" in self.transformer:  # learned absolute positions; rotary ones live in the attention layers
            x = x + self.transformer.wpe(torch.arange(start, start + T, device=idx.device))  # (B, T, C) + (T, C)
        return self.transformer.drop(x)  # (B, T, C)

    def hidden_states(self, idx: torch.Tensor) -> torch.Tensor:
        """The residual stream after the final LayerNorm, (B, T, C): the input of the LM head
        (and of value / reward heads in the RLHF capstone)."""
        self._check_idx(idx)
        x = self._embed(idx)  # (B, T, C)
        for block in self.transformer.h:
            x = block(x)  # (B, T, C)
        return self.transformer.ln_f(x)  # (B, T, C)

    def forward(self, idx: torch.Tensor, targets: Optional[torch.Tensor] = None):
        """Logits z (B, T, V) and, when ``targets`` (B, T) are given, the mean cross-entropy
        −(1/|S|) Σ_{(b,t)∈S} log p_θ(y_{b,t} | x_{b,≤t}) over the set S of kept targets (those not equal to
        -100: they leave the sum and the count, so the divisor is |S|, which is B·T only without
        ignored targets); else loss is None.

        Token ids (and targets) outside [0, V) raise ``ValueError`` for CPU tensors; on a GPU only the
        dtype and shape are checked, so that no step waits on a host synchronisation."""
        h = self.hidden_states(idx)  # (B, T, C)
        logits = self.lm_head(h)  # (B, T, V)
        loss = None
        if targets is not None:
            require_tensor(targets, "targets", ndim=2, kind="int", dims="(B, T)")
            if targets.shape != idx.shape:
                raise ValueError(f"targets must have the shape of idx {tuple(idx.shape)}, got {tuple(targets.shape)}")
            require_ids_in_range(targets, "targets", self.config.vocab_size, ignore_index=-100)  # CPU only
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1).long(), ignore_index=-100)
        return logits, loss

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> list[torch.Tensor]:
        """The attention weights of every layer: a list of n_layer tensors (B, H, T, T); row t of a map
        is how much token t reads from each token ≤ t."""
        self._check_idx(idx)
        x = self._embed(idx)  # (B, T, C)
        maps = []
        for block in self.transformer.h:
            x, w = block(x, return_weights=True)  # (B, T, C), (B, H, T, T)
            maps.append(w)
        return maps

    def num_parameters(self, trainable_only: bool = True, non_embedding: bool = False) -> int:
        """Number of parameters (the tied embedding counted once). ``non_embedding`` leaves out the
        position embedding P (the token embedding doubles as the output layer, so it is kept)."""
        n = sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)
        if non_embedding and "wpe" in self.transformer:
            n -= self.transformer.wpe.weight.numel()
        return n

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: Optional[int] = None,
                 top_p: Optional[float] = None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Extend ``idx`` (B, T0) by ``max_new_tokens`` sampled tokens -> (B, T0 + max_new_tokens).

        Each step feeds the last ``block_size`` tokens, takes the logits z of the last position and
        samples x ~ softmax(z / temperature) after the optional top-k / top-p filters
        (``temperature=0`` picks the argmax). Pass a seeded ``generator`` for repeatable samples.
        Switch the model to ``eval()`` first if it has dropout.
        """
        require_tensor(idx, "idx", ndim=2, kind="int", dims="(B, T)")
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be a non-negative int, got {max_new_tokens!r}")
        _check_sampling_args(temperature, top_k, top_p)
        idx = idx.long()
        for _ in range(max_new_tokens):
            idx_cond = idx[:, -self.config.block_size:]  # (B, ≤T_max)
            logits, _ = self(idx_cond)  # (B, T, V)
            idx_next = sample_next_token(logits[:, -1, :], temperature, top_k, top_p, generator)  # (B, 1)
            idx = torch.cat((idx, idx_next), dim=1)  # (B, T+1)
        return idx


def count_parameters_by_formula(config: GPTConfig) -> int:
    """Parameters of ``GPT(config)`` counted by hand.

    embeddings V·C + T_max·C (T_max·C only with learned positions: rotary ones have no parameters); per
    block 12C² weights (QKV 3C², output C², MLP 4C² + 4C²) plus 2C LayerNorm gains and, with biases, 2C
    LayerNorm biases + 3C + C + 4C + C Linear biases; the final LayerNorm C (+C); the LM head is tied to E
    and adds nothing.
    """
    C, V, Tm, L = config.n_embd, config.vocab_size, config.block_size, config.n_layer
    per_block = 12 * C * C + 2 * C + (2 * C + 3 * C + C + 4 * C + C if config.bias else 0)
    final_ln = C + (C if config.bias else 0)
    positions = Tm * C if config.pos_encoding == "learned" else 0
    return V * C + positions + L * per_block + final_ln


def _check_sampling_args(temperature, top_k, top_p) -> None:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not math.isfinite(temperature) \
            or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy), got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be None or a positive int, got {top_k!r}")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0.0 < top_p <= 1.0):
        raise ValueError(f"top_p must be None or a number in (0, 1], got {top_p!r}")


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits of each row, set the others to -inf. (..., V) -> (..., V).

    Logits tied with the k-th largest are kept too, so a row may keep more than k entries on ties.
    Always returns a new tensor (never ``logits`` itself).
    """
    require_tensor(logits, "logits", kind="float")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    if k >= logits.shape[-1]:
        return logits.clone()  # a new tensor either way: writing into the result never changes the input
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1)
    return logits.masked_fill(logits < kth, float("-inf"))  # (..., V)


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of most likely tokens whose total probability is ≥ p,
    set the others to -inf. The most likely token is always kept. (..., V) -> (..., V); a new tensor."""
    require_tensor(logits, "logits", kind="float")
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 < p <= 1.0:
        raise ValueError(f"p must be a number in (0, 1], got {p!r}")
    if p >= 1.0:
        return logits.clone()  # a new tensor either way
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (..., V)
    probs = torch.softmax(sorted_logits.float(), dim=-1)  # (..., V)
    mass_before = torch.cumsum(probs, dim=-1) - probs  # probability of the tokens ranked above each one
    drop_sorted = mass_before >= p  # (..., V); rank 0 has mass_before 0 < p, so it is always kept
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))  # (..., V)


def sample_next_token(logits: torch.Tensor, temperature: float = 1.0, top_k: Optional[int] = None,
                      top_p: Optional[float] = None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Sample one token per row from softmax(z / temperature) after the top-k and top-p filters.

    logits: (B, V) -> ids (B, 1) int64. ``temperature=0`` returns the argmax. A row that is all -inf
    or holds a NaN or +inf has no distribution to sample from and raises ``ValueError`` (checked for
    CPU tensors; on a GPU torch's own check in ``multinomial`` applies). If ``generator`` lives on
    another device than ``logits`` (e.g. a CPU generator with CUDA logits) the draw is made on the
    generator's device, so a seed gives the same tokens everywhere.
    """
    require_tensor(logits, "logits", ndim=2, kind="float", dims="(B, V)")
    _check_sampling_args(temperature, top_k, top_p)
    if logits.shape[1] == 0:
        raise ValueError(f"logits must have at least one token per row (V >= 1), got shape {tuple(logits.shape)}")
    if on_host(logits):  # values checked on the CPU only (no GPU sync per generated token)
        bad = torch.isnan(logits).any(dim=-1) | (logits == float("-inf")).all(dim=-1) | (logits == float("inf")).any(dim=-1)
        if bool(bad.any()):
            rows = bad.nonzero()[:5, 0].tolist()
            raise ValueError(f"logits rows {rows} cannot be sampled from: each row needs at least one logit "
                             f"> -inf and no NaN or +inf")
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)  # (B, 1)
    z = logits.float() / temperature  # (B, V)
    if top_k is not None:
        z = top_k_filter(z, top_k)
    if top_p is not None:
        z = top_p_filter(z, top_p)
    probs = torch.softmax(z, dim=-1)  # (B, V)
    if generator is not None and generator.device != probs.device:
        return torch.multinomial(probs.to(generator.device), 1, generator=generator).to(logits.device)  # (B, 1)
    return torch.multinomial(probs, 1, generator=generator)  # (B, 1)


def load_pretrained(path=None, device=None):
    """Load the shipped character-level Shakespeare GPT (``assets/gpt_shakespeare.pt``).

    Returns ``(model, tokenizer)``; the model is in eval mode on ``device`` (default: ``get_device()``).
    Regenerate the file with ``python -m lmrl_course.scripts.train_shakespeare``.
    """
    from .lm_trainer import load_checkpoint
    from .paths import GPT_CHECKPOINT_PATH

    model, tokenizer, _ = load_checkpoint(GPT_CHECKPOINT_PATH if path is None else path, device=device)
    return model, tokenizer


__all__ = ["GPTConfig", "EMBED_STD", "MLP", "Block", "GPT", "count_parameters_by_formula", "sample_next_token", "top_k_filter",
           "top_p_filter", "load_pretrained"]
