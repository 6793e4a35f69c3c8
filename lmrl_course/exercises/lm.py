"""Exercises of the language-model track (notebooks 01-03).

Every reference is the package's own function (or a one-line call of it, or torch's own op), so a
learner's answer is compared with exactly the code the rest of the course imports.

- 01 cross-entropy: ``log_softmax``, ``cross_entropy``
- 02 attention:     ``causal_attention``, ``split_heads``, ``merge_heads``
- 03 GPT:           ``layer_norm``, ``transformer_block``, ``gpt_forward``, ``count_parameters``, ``train_step``,
                    ``top_p_filter``, ``generate``
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..attention import merge_heads as _merge_heads
from ..attention import scaled_dot_product_attention
from ..attention import split_heads as _split_heads
from ..gpt import GPT, Block, GPTConfig, count_parameters_by_formula
from ..gpt import top_k_filter as _top_k_filter
from ..gpt import top_p_filter as _top_p_filter
from ..losses import cross_entropy as _cross_entropy
from ..losses import log_softmax as _log_softmax
from . import register
from .core import Case, Exercise, compare_outputs


# ============================================================================ 01 · cross-entropy

def _log_softmax_cases(g: torch.Generator):
    return [
        Case("random logits, shape (4, 7)", (torch.randn(4, 7, generator=g),)),
        Case("one vector of 65 logits", (torch.randn(65, generator=g) * 3,)),
        Case("log-softmax over dim=0 of a (3, 4) tensor", (torch.randn(3, 4, generator=g),), {"dim": 0}),
        Case("huge logits (±1e4): exp overflows unless you subtract the max",
             (torch.tensor([[1e4, -1e4, 0.0], [1000.0, 1000.0, 999.0]]),)),
        Case("very negative logits [0, -120, -5]: softmax underflows to 0, log(0) = -inf",
             (torch.tensor([0.0, -120.0, -5.0]),)),
        Case("float64 input: keep the dtype", (torch.randn(2, 3, generator=g, dtype=torch.float64),)),
        Case("a batch of shape (2, 3, 6)", (torch.randn(2, 3, 6, generator=g) * 10,)),
    ]


register(Exercise(
    name="log_softmax",
    title="A numerically stable log-softmax (log-sum-exp)",
    reference=_log_softmax,
    cases=_log_softmax_cases,
    hints=[
        "log softmax(z)_i = z_i - log Σ_j exp(z_j), taken along `dim`; the other dimensions are a batch.",
        "exp(z) overflows for z > ~88 and underflows to 0 for z < ~-100 in float32. With m = max_j z_j: "
        "log Σ_j exp(z_j) = m + log Σ_j exp(z_j - m), and every exp(z_j - m) is in (0, 1].",
        "m = z.amax(dim=dim, keepdim=True); shifted = z - m; "
        "return shifted - shifted.exp().sum(dim=dim, keepdim=True).log()",
    ],
    solution='''import torch


def log_softmax(z, dim=-1):
    shifted = z - z.amax(dim=dim, keepdim=True)                   # largest entry is 0: no overflow
    return shifted - shifted.exp().sum(dim=dim, keepdim=True).log()   # the sum is >= 1: no log(0)
''',
    atol=1e-5, rtol=1e-5, check_grad=True,
    nan_hint="overflow or log(0)? subtract the max before exp",
    forbidden=("torch.log_softmax", "torch.nn.functional.log_softmax", "torch.Tensor.log_softmax",
               "torch.special.log_softmax", "torch.logsumexp", "torch.Tensor.logsumexp", "torch.special.logsumexp"),
    forbidden_hint="the log-sum-exp trick from max, exp, sum and log is the point of this exercise",
))


def _ce_cases(g: torch.Generator):
    t_pad = torch.randint(10, (3, 6), generator=g)
    t_pad[0, 4:] = -100
    t_pad[2, 1:] = -100
    t_custom = torch.randint(1, 7, (12,), generator=g)
    t_custom[::3] = 0
    return [
        Case("logits (8, 10), targets (8,)", (torch.randn(8, 10, generator=g), torch.randint(10, (8,), generator=g))),
        Case("a batch of sequences: logits (2, 5, 7), targets (2, 5)",
             (torch.randn(2, 5, 7, generator=g) * 2, torch.randint(7, (2, 5), generator=g))),
        Case("huge logits (±1e4): use a stable log-softmax",
             (torch.tensor([[1e4, -1e4, 0.0], [0.0, 1e4, 1e4], [-1e4, -1e4, -1e4]]), torch.tensor([1, 2, 0]))),
        Case("padding: some targets are -100 and must be left out of the sum AND the count",
             (torch.randn(3, 6, 10, generator=g), t_pad)),
        Case("ignore_index=0: the targets equal to 0 are left out",
             (torch.randn(12, 7, generator=g), t_custom), {"ignore_index": 0}),
        Case("float64 input: keep the dtype",
             (torch.randn(4, 5, generator=g, dtype=torch.float64), torch.randint(5, (4,), generator=g))),
    ]


register(Exercise(
    name="cross_entropy",
    title="Cross-entropy with ignore_index",
    reference=_cross_entropy,
    cases=_ce_cases,
    hints=[
        "loss = -(1/|S|) Σ_{n in S} log softmax(z_n)[y_n], where S are the positions whose target is not "
        "ignore_index. Flatten first: logits.reshape(-1, V), targets.reshape(-1).",
        "logp = log_softmax(logits, dim=-1); keep = targets != ignore_index; an ignored target is not a "
        "valid index, so gather with safe = targets.where(keep, 0) and then zero out the ignored entries.",
        "nll = -logp.gather(-1, safe[:, None]).squeeze(-1); return (nll * keep).sum() / keep.sum() "
        "(the mean over the kept positions only; multiply by keep, not by the ignored -100s).",
    ],
    solution='''import torch


def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    logits, targets = logits.reshape(-1, V), targets.reshape(-1)     # (N, V), (N,)
    shifted = logits - logits.amax(dim=-1, keepdim=True)             # = log_softmax(logits), your
    logp = shifted - shifted.exp().sum(dim=-1, keepdim=True).log()   #   function from above; (N, V)
    keep = targets != ignore_index                                   # (N,)
    safe = targets.where(keep, torch.zeros_like(targets))            # a valid index everywhere
    nll = -logp.gather(-1, safe[:, None]).squeeze(-1)                # (N,)
    return (nll * keep).sum() / keep.sum()
''',
    atol=1e-5, rtol=1e-5, check_grad=True,
    nan_hint="overflow? use a stable log-softmax (subtract the max before exp)",
    forbidden=("torch.nn.functional.cross_entropy", "torch.nn.functional.nll_loss"),
    forbidden_hint="use your log_softmax, gather the targets' entries and average over the kept positions",
))


# ============================================================================ 02 · attention

def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(Q Kᵀ / √d_k + M) V with the causal mask M (−∞ where key s > query t):
    the package's :func:`~lmrl_course.attention.scaled_dot_product_attention` with ``is_causal=True``."""
    return scaled_dot_product_attention(q, k, v, is_causal=True)


def _causal_cases(g: torch.Generator):
    return [
        Case("one sequence: q, k, v of shape (1, 4, 8)",
             tuple(torch.randn(1, 4, 8, generator=g) for _ in range(3))),
        Case("batch and heads: (2, 3, 5, 4) = (B, H, T, hs)",
             tuple(torch.randn(2, 3, 5, 4, generator=g) for _ in range(3))),
        Case("a single position T = 1: it can only read itself", tuple(torch.randn(2, 1, 6, generator=g) for _ in range(3))),
        Case("large queries (x10): stable softmax needed, and divide by sqrt(d_k), not d_k",
             (torch.randn(1, 6, 16, generator=g) * 10, torch.randn(1, 6, 16, generator=g),
              torch.randn(1, 6, 16, generator=g))),
        Case("values of another width: q, k (2, 6, 4), v (2, 6, 3)",
             (torch.randn(2, 6, 4, generator=g), torch.randn(2, 6, 4, generator=g), torch.randn(2, 6, 3, generator=g))),
        Case("float64 input: keep the dtype",
             tuple(torch.randn(1, 5, 4, generator=g, dtype=torch.float64) for _ in range(3))),
    ]


register(Exercise(
    name="causal_attention",
    title="Causal scaled dot-product attention",
    reference=causal_attention,
    cases=_causal_cases,
    hints=[
        "scores = q @ k.transpose(-2, -1) / sqrt(d_k) with d_k = q.shape[-1]: shape (..., T, T), row t "
        "for query t, column s for key s.",
        "Query t may read key s only when s <= t: mask = torch.tril(torch.ones(T, T, dtype=torch.bool, "
        "device=q.device)); scores = scores.masked_fill(~mask, float('-inf')).",
        "weights = torch.softmax(scores, dim=-1)  (over the KEYS, the last axis); return weights @ v.",
    ],
    solution='''import math

import torch


def causal_attention(q, k, v):
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])             # (..., T, T)
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool, device=q.device))  # key s <= query t
    scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v                               # (..., T, hv)
''',
    atol=1e-5, rtol=1e-5, check_grad=True,
    forbidden=("torch.nn.functional.scaled_dot_product_attention",),
    forbidden_hint="write softmax(q kᵀ / √d_k + M) v out: the matmuls, the mask and the softmax",
    nan_hint="a row with every key masked gives 0/0: query t must be allowed to read key t itself (s <= t)",
))


register(Exercise(
    name="split_heads",
    title="Split (B, T, C) into H heads: (B, H, T, hs)",
    reference=_split_heads,
    cases=lambda g: [
        Case("x (2, 5, 12) into 3 heads of size 4", (torch.randn(2, 5, 12, generator=g), 3)),
        Case("x (1, 1, 8) into 8 heads of size 1", (torch.randn(1, 1, 8, generator=g), 8)),
        Case("x (3, 4, 6) into 1 head", (torch.randn(3, 4, 6, generator=g), 1)),
        Case("x (2, 3, 8) into 2 heads: head 0 = channels 0..3, head 1 = channels 4..7",
             (torch.arange(48.0).view(2, 3, 8), 2)),
    ],
    hints=[
        "Head h owns the channels h·hs … (h+1)·hs − 1, hs = C // n_head. First make the head a separate "
        "axis without moving any number: (B, T, C) -> (B, T, H, hs).",
        "x.view(B, T, n_head, C // n_head) does that; then swap the T and H axes so the heads sit next "
        "to the batch: .transpose(1, 2) -> (B, H, T, hs).",
        "B, T, C = x.shape; return x.view(B, T, n_head, C // n_head).transpose(1, 2). "
        "(x.view(B, n_head, T, hs) has the right shape but mixes positions and channels.)",
    ],
    solution='''def split_heads(x, n_head):
    B, T, C = x.shape
    return x.view(B, T, n_head, C // n_head).transpose(1, 2)   # (B, H, T, hs)
''',
    atol=0.0, rtol=0.0, check_grad=True,   # they sit inside the model: keep them differentiable
))


register(Exercise(
    name="merge_heads",
    title="Merge H heads back: (B, H, T, hs) -> (B, T, C)",
    reference=_merge_heads,
    cases=lambda g: [
        Case("x (2, 3, 5, 4) -> (2, 5, 12)", (torch.randn(2, 3, 5, 4, generator=g),)),
        Case("x (1, 8, 1, 1) -> (1, 1, 8)", (torch.randn(1, 8, 1, 1, generator=g),)),
        Case("x (2, 2, 3, 4) numbered 0..47: undo split_heads exactly", (torch.arange(48.0).view(2, 2, 3, 4),)),
    ],
    hints=[
        "merge_heads undoes split_heads: first move the head axis back after T, (B, H, T, hs) -> "
        "(B, T, H, hs), then join the last two axes.",
        "x.transpose(1, 2) is no longer contiguous in memory, so .view fails: use .contiguous().view(...) "
        "or .reshape(...).",
        "B, H, T, hs = x.shape; return x.transpose(1, 2).reshape(B, T, H * hs). "
        "(x.reshape(B, T, H * hs) without the transpose has the right shape but the wrong numbers.)",
    ],
    solution='''def merge_heads(x):
    B, H, T, hs = x.shape
    return x.transpose(1, 2).contiguous().view(B, T, H * hs)   # (B, T, C)
''',
    atol=0.0, rtol=0.0, check_grad=True,   # they sit inside the model: keep them differentiable
))


# ============================================================================ 03 · GPT

register(Exercise(
    name="count_parameters",
    title="Count a GPT's parameters by hand",
    reference=count_parameters_by_formula,
    cases=lambda g: [
        Case("the default GPTConfig(vocab_size=65): 4 layers, C = 128", (GPTConfig(vocab_size=65),)),
        Case("a tiny one: 1 layer, 1 head, C = 8, block_size 4",
             (GPTConfig(vocab_size=10, block_size=4, n_layer=1, n_head=1, n_embd=8),)),
        Case("bias=False: no Linear biases and no LayerNorm biases",
             (GPTConfig(vocab_size=65, block_size=32, n_layer=2, n_head=2, n_embd=16, bias=False),)),
        Case("a wider one: 6 layers, C = 192, block_size 256",
             (GPTConfig(vocab_size=65, block_size=256, n_layer=6, n_head=6, n_embd=192),)),
        Case("another vocabulary: V = 100 (the output layer is tied to the embedding)",
             (GPTConfig(vocab_size=100, block_size=16, n_layer=3, n_head=4, n_embd=32),)),
    ],
    hints=[
        "Go through the model: token embedding E (V, C), position embedding P (block_size, C), n_layer "
        "blocks, a final LayerNorm, and the output layer — which is tied to E, so it adds nothing.",
        "One block: LayerNorm (C gain + C bias), attention c_attn (C x 3C weight + 3C bias) and c_proj "
        "(C x C + C), LayerNorm (C + C), MLP c_fc (C x 4C + 4C) and c_proj (4C x C + C). With bias=False "
        "drop every bias, but keep the LayerNorm gains.",
        "Weights per block: 3C² + C² + 4C² + 4C² = 12C²; biases 3C + C + 4C + C = 9C; LayerNorms 2C gains "
        "(+ 2C biases). Total: V·C + block_size·C + n_layer·(12C² + 2C [+ 11C]) + C [+ C].",
    ],
    solution='''def count_parameters(config):
    C, V, L = config.n_embd, config.vocab_size, config.n_layer
    b = 1 if config.bias else 0
    embeddings = V * C + config.block_size * C                # E and P; the output layer is tied to E
    attn = 3 * C * C + b * 3 * C + C * C + b * C              # c_attn (W_Q, W_K, W_V) and c_proj (W_O)
    mlp = 4 * C * C + b * 4 * C + 4 * C * C + b * C           # c_fc and c_proj
    layer_norms = 2 * (C + b * C)                             # ln_1, ln_2: gain (+ bias)
    final_ln = C + b * C
    return embeddings + L * (attn + mlp + layer_norms) + final_ln
''',
    atol=0.0, rtol=0.0,
    forbidden=("torch.nn.Module.parameters", "torch.nn.Module.named_parameters", "torch.nn.Module.state_dict"),
    forbidden_hint="count from the config alone, with the formula; building the model and counting its tensors "
                   "is what this exercise checks your formula against",
))


def _top_p_cases(g: torch.Generator):
    peaked = torch.randn(2, 8, generator=g)
    peaked[:, 3] += 8.0
    return [
        Case("logits (4, 10), p = 0.9", (torch.randn(4, 10, generator=g) * 2, 0.9)),
        Case("logits (3, 12), p = 0.5", (torch.randn(3, 12, generator=g) * 2, 0.5)),
        Case("p = 1.0 keeps every token", (torch.randn(2, 6, generator=g), 1.0)),
        Case("one token with probability > 0.99 and p = 0.5: only it survives", (peaked, 0.5)),
        Case("tiny p = 0.001: the most likely token is always kept", (torch.randn(3, 9, generator=g), 0.001)),
        Case("a batch (2, 3, 7) of logits, p = 0.8", (torch.randn(2, 3, 7, generator=g) * 3, 0.8)),
        Case("logits already cut by top-k (-inf entries), p = 0.9: what generate passes on",
             (torch.randn(3, 10, generator=g).masked_fill(torch.rand(3, 10, generator=g) < 0.4, float("-inf")), 0.9)),
        Case("large logits (x100, as after dividing by a low temperature), p = 0.95: exp overflows unless the "
             "softmax subtracts the max", (torch.randn(3, 8, generator=g) * 100, 0.95)),
    ]


register(Exercise(
    name="top_p_filter",
    title="Nucleus (top-p) filtering",
    reference=_top_p_filter,
    cases=_top_p_cases,
    hints=[
        "Keep the smallest set of most likely tokens whose probabilities add up to at least p; set every "
        "other logit to -inf. Work along the last axis; sort the logits in decreasing order first.",
        "sorted_logits, order = torch.sort(logits, dim=-1, descending=True); probs = softmax(sorted_logits). "
        "A token is kept when the probability of the tokens ranked ABOVE it is still < p: "
        "mass_before = probs.cumsum(-1) - probs; drop = mass_before >= p (rank 0 always stays).",
        "`drop` is in sorted order: put it back in vocabulary order with "
        "torch.zeros_like(drop).scatter(-1, order, drop), then return logits.masked_fill(drop, float('-inf')).",
    ],
    solution='''import torch


def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)   # (..., V)
    probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs       # probability of the tokens ranked above
    drop_sorted = mass_before >= p                    # rank 0 has mass_before = 0 < p: always kept
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)   # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))
''',
    atol=1e-6, rtol=1e-6,
    nan_hint="you dropped a token the reference keeps: the token whose cumulative probability crosses p "
             "stays, and the mask must be put back in vocabulary order (a nan instead: look for 0 · inf, a mask "
             "multiplied in, or inf − inf)",
))


# ---------------------------------------------------------------------------- 03 · the learner builds the GPT
#
# Every exercise below is functional: the weights come in as a dict of tensors named like the package
# model's ``state_dict()`` (cloned for each call, so the reference and the learner see the same numbers),
# and each reference is an independent implementation: torch's ``F.layer_norm``, the package's ``Block``
# and ``GPT`` modules loaded with those weights, the package's ``train_step`` (torch's AdamW and
# ``clip_grad_norm_``) and ``GPT.generate``.

def layer_norm_reference(x, weight, bias, eps=1e-5):
    """LN(x) = (x − μ) / √(σ² + ε) · γ + β over the last axis, σ² the biased variance: torch's F.layer_norm."""
    return F.layer_norm(x, (x.shape[-1],), weight, bias, eps)


def _layer_norm_cases(g: torch.Generator):
    C = 16
    w, b = 1 + 0.5 * torch.randn(C, generator=g), 0.5 * torch.randn(C, generator=g)
    const = torch.full((2, C), 3.0)
    const[1] = -1.0
    return [
        Case("x (2, 5, 16) with a random gain and bias", (torch.randn(2, 5, C, generator=g), w, b)),
        Case("one vector of 8 channels, gain 1, bias 0", (torch.randn(8, generator=g) * 3 + 2, torch.ones(8),
                                                          torch.zeros(8))),
        Case("bias=None (a GPTConfig(bias=False) model has no LayerNorm bias)",
             (torch.randn(3, C, generator=g), w, None)),
        Case("constant rows: the variance is 0, only eps keeps it finite", (const, w, b)),
        Case("eps=0.1: eps goes inside the square root", (torch.randn(4, C, generator=g) * 0.3, w, b),
             {"eps": 0.1}),
        Case("float64 rows with mean 1e7 and std 1: E[x²] − E[x]² cancels; compute the variance from x − mean",
             (1e7 + torch.randn(4, C, generator=g, dtype=torch.float64), w.double(), b.double())),
        Case("float64 input: keep the dtype",
             (torch.randn(2, 3, C, generator=g, dtype=torch.float64), w.double(), b.double())),
    ]


register(Exercise(
    name="layer_norm",
    title="LayerNorm over the channels",
    reference=layer_norm_reference,
    forbidden=("torch.nn.functional.layer_norm", "torch.layer_norm", "torch.native_layer_norm",
               "torch.nn.LayerNorm.forward"),
    forbidden_hint="the mean, the biased variance and the square root are the exercise; F.layer_norm is what "
                   "the check compares with",
    cases=_layer_norm_cases,
    hints=[
        "Normalise each position's C channels (the last axis): subtract their mean, divide by their "
        "standard deviation, then multiply by the gain `weight` (C,) and add the `bias` (C,).",
        "mu = x.mean(-1, keepdim=True); var = ((x - mu) ** 2).mean(-1, keepdim=True) — the BIASED "
        "variance (divide by C, not C − 1; torch's x.var() divides by C − 1 unless correction=0).",
        "y = (x - mu) / torch.sqrt(var + eps) * weight; add bias only when it is not None.",
    ],
    solution='''import torch


def layer_norm(x, weight, bias, eps=1e-5):
    mu = x.mean(dim=-1, keepdim=True)                      # (..., 1)
    var = ((x - mu) ** 2).mean(dim=-1, keepdim=True)       # biased: divide by C
    y = (x - mu) / torch.sqrt(var + eps) * weight          # (..., C)
    return y if bias is None else y + bias
''',
    atol=1e-5, rtol=1e-4, check_grad=True,
    float64_atol=1e-7, float64_rtol=1e-7,   # the mean-1e7 case: float64 itself leaves ~1e-9 there
    nan_hint="a row of equal values has variance 0: add eps inside the square root",
))


def _block_config(params: dict, n_head: int) -> GPTConfig:
    C = params["ln_1.weight"].shape[0]
    return GPTConfig(vocab_size=1, block_size=1, n_layer=1, n_head=n_head, n_embd=C,
                     bias=params.get("ln_1.bias") is not None)


def transformer_block_reference(x, params, n_head):
    """The package's pre-LN :class:`~lmrl_course.gpt.Block` loaded with ``params``:
    a = x + Attn(LN₁(x)),  y = a + MLP(LN₂(a))."""
    block = Block(_block_config(params, n_head)).to(device=x.device).eval()
    return torch.func.functional_call(block, params, (x,), strict=True)  # differentiable in x and params


def _random_params(module: nn.Module, g: torch.Generator, scale: float = 0.3, dtype=torch.float32) -> dict:
    """A state_dict of ``module`` with random values: gains near 1, every other entry drawn from 𝒩(0, scale²/fan)."""
    out = {}
    for name, p in module.state_dict().items():
        if name.endswith("weight") and p.dim() == 1:           # LayerNorm gain
            v = 1 + 0.3 * torch.randn(p.shape, generator=g)
        elif p.dim() == 2:
            v = torch.randn(p.shape, generator=g) * scale / p.shape[1] ** 0.5 * 3
        else:
            v = 0.3 * torch.randn(p.shape, generator=g)
        out[name] = v.to(dtype)
    return out


def _block_cases(g: torch.Generator):
    cases = []
    for desc, B, T, C, H, bias in [("x (2, 6, 16), 4 heads", 2, 6, 16, 4, True),
                                   ("one head of size 8, x (1, 5, 8)", 1, 5, 8, 1, True),
                                   ("a single position T = 1, x (3, 1, 16)", 3, 1, 16, 2, True),
                                   ("bias=False: params has no biases (params.get(name) is None)", 2, 7, 16, 4, False),
                                   ("8 heads of size 2, x (3, 4, 16)", 3, 4, 16, 8, True)]:
        block = Block(GPTConfig(vocab_size=1, block_size=T, n_layer=1, n_head=H, n_embd=C, bias=bias))
        cases.append(Case(desc, (torch.randn(B, T, C, generator=g), _random_params(block, g), H)))
    block = Block(GPTConfig(vocab_size=1, block_size=5, n_layer=1, n_head=2, n_embd=8))
    cases.append(Case("float64 x and weights, x (2, 5, 8), 2 heads: keep the dtype (train_step runs your block in "
                      "float64)", (torch.randn(2, 5, 8, generator=g, dtype=torch.float64),
                                   _random_params(block, g, dtype=torch.float64), 2)))
    return cases


_BLOCK_KEYS = ("ln_1.weight, ln_1.bias, attn.c_attn.weight (3C, C), attn.c_attn.bias, attn.c_proj.weight (C, C), "
               "attn.c_proj.bias, ln_2.weight, ln_2.bias, mlp.c_fc.weight (4C, C), mlp.c_fc.bias, "
               "mlp.c_proj.weight (C, 4C), mlp.c_proj.bias")

register(Exercise(
    name="transformer_block",
    title="One pre-LayerNorm transformer block",
    reference=transformer_block_reference,
    forbidden=("lmrl_course.gpt.Block.forward",),
    forbidden_hint="build the block from your layer_norm and the attention and MLP equations; the package's "
                   "Block is what the check compares with",
    cases=_block_cases,
    hints=[
        "Two residual updates: a = x + Attn(LN₁(x)), then y = a + MLP(LN₂(a)). Each sub-layer reads a "
        "normalised copy and ADDS to the stream. The weights are params[name] with the names " + _BLOCK_KEYS
        + "; a Linear is F.linear(x, W, b) = x Wᵀ + b (b may be None).",
        "Attention: qkv = F.linear(LN₁(x), W_attn, b_attn) (B, T, 3C); q, k, v = qkv.split(C, dim=-1); make "
        "heads with .view(B, T, n_head, C // n_head).transpose(1, 2); y = F.scaled_dot_product_attention("
        "q, k, v, is_causal=True) (or your causal_attention of notebook 02); merge with "
        ".transpose(1, 2).reshape(B, T, C); then the output projection attn.c_proj.",
        "MLP: F.linear(F.gelu(F.linear(LN₂(a), W_fc, b_fc)), W_proj, b_proj). F.gelu is the exact (erf) "
        "GELU of nn.GELU(); the tanh approximation differs by ~1e-3. LN is your layer_norm with "
        "params['ln_1.weight'], params.get('ln_1.bias').",
    ],
    solution='''import torch
import torch.nn.functional as F


def transformer_block(x, params, n_head):
    B, T, C = x.shape
    p = lambda name: params.get(name)                                    # None for a missing bias

    h = layer_norm(x, p("ln_1.weight"), p("ln_1.bias"))                  # (B, T, C)
    q, k, v = F.linear(h, p("attn.c_attn.weight"), p("attn.c_attn.bias")).split(C, dim=-1)
    q, k, v = (t.view(B, T, n_head, C // n_head).transpose(1, 2) for t in (q, k, v))   # (B, H, T, hs)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)         # (B, H, T, hs)
    y = y.transpose(1, 2).reshape(B, T, C)                               # (B, T, C)
    x = x + F.linear(y, p("attn.c_proj.weight"), p("attn.c_proj.bias"))  # a = x + Attn(LN1(x))

    h = layer_norm(x, p("ln_2.weight"), p("ln_2.bias"))
    h = F.gelu(F.linear(h, p("mlp.c_fc.weight"), p("mlp.c_fc.bias")))   # (B, T, 4C)
    return x + F.linear(h, p("mlp.c_proj.weight"), p("mlp.c_proj.bias"))  # y = a + MLP(LN2(a))
''',
    atol=1e-5, rtol=1e-4, check_grad=True,   # the gradients in x and in every weight of params (train_step needs them)
    solution_globals=lambda: {"layer_norm": layer_norm_reference},
))


def _gpt_from_params(params: dict, config: GPTConfig) -> GPT:
    """The package GPT with ``params`` loaded; ``params`` may leave out the tied ``lm_head.weight``."""
    dtype = params["transformer.wte.weight"].dtype
    model = GPT(config).to(dtype=dtype)
    state = dict(params)
    state["lm_head.weight"] = state["transformer.wte.weight"]
    model.load_state_dict(state)
    return model.eval()


_SHAPE_MODELS: dict = {}


def _shape_model(config: GPTConfig, device) -> GPT:
    """A GPT of this config whose own weights are never used (``functional_call`` swaps them all),
    built once per config: building a model per call made a sampling loop slow."""
    key = (tuple(sorted(config.to_dict().items())), str(device))
    if key not in _SHAPE_MODELS:
        if len(_SHAPE_MODELS) > 16:
            _SHAPE_MODELS.clear()
        _SHAPE_MODELS[key] = GPT(config).to(device=device).eval()
    return _SHAPE_MODELS[key]


def gpt_forward_reference(idx, params, config, targets=None):
    """The package's ``GPT(config)`` run with ``params`` as its weights: (logits (B, T, V), loss or None).
    Differentiable with respect to ``params`` (``torch.func.functional_call``; the tied head uses
    ``transformer.wte.weight``)."""
    model = _shape_model(config, idx.device)
    args = (idx,) if targets is None else (idx, targets)
    return torch.func.functional_call(model, params, args, tie_weights=True, strict=False)


def _gpt_params(config: GPTConfig, g: torch.Generator, dtype=torch.float32) -> dict:
    state = _random_params(GPT(config), g, dtype=dtype)
    state.pop("lm_head.weight")                                  # tied to transformer.wte.weight
    return state


def _gpt_forward_cases(g: torch.Generator):
    c1 = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16)
    c2 = GPTConfig(vocab_size=7, block_size=6, n_layer=1, n_head=1, n_embd=8, bias=False)
    c3 = GPTConfig(vocab_size=13, block_size=10, n_layer=3, n_head=4, n_embd=16)
    pad = torch.randint(13, (2, 10), generator=g)
    pad[0, 6:] = -100
    pad[1, :3] = -100
    return [
        Case("2 layers, idx (3, 8), targets given", (torch.randint(11, (3, 8), generator=g), _gpt_params(c1, g), c1,
                                                    torch.randint(11, (3, 8), generator=g))),
        Case("no targets: return (logits, None)", (torch.randint(11, (2, 5), generator=g), _gpt_params(c1, g), c1)),
        Case("T = 4 < block_size = 8: positions 0..T-1 of P only",
             (torch.randint(11, (2, 4), generator=g), _gpt_params(c1, g), c1, torch.randint(11, (2, 4), generator=g))),
        Case("targets equal to -100 are ignored (the mean is over the kept targets)",
             (torch.randint(13, (2, 10), generator=g), _gpt_params(c3, g), c3, pad)),
        Case("bias=False, one layer of one head", (torch.randint(7, (2, 6), generator=g), _gpt_params(c2, g), c2,
                                                   torch.randint(7, (2, 6), generator=g))),
        Case("float64 weights: keep the dtype (train_step runs your forward pass in float64)",
             (torch.randint(11, (2, 6), generator=g), _gpt_params(c1, g, dtype=torch.float64), c1, torch.randint(11, (2, 6), generator=g))),
    ]


register(Exercise(
    name="gpt_forward",
    title="The GPT's forward pass, from a state_dict",
    reference=gpt_forward_reference,
    forbidden=("lmrl_course.gpt.GPT.forward", "lmrl_course.gpt.Block.forward"),
    forbidden_hint="build the forward pass from the embeddings, your transformer_block and layer_norm; the "
                   "package's GPT is what the check compares with",
    cases=_gpt_forward_cases,
    hints=[
        "h = E[idx] + P[0..T-1] with E = params['transformer.wte.weight'] (V, C) and P = "
        "params['transformer.wpe.weight'] (block_size, C); then config.n_layer blocks; then the final "
        "LayerNorm transformer.ln_f; logits z = h Eᵀ (the head is tied to E: there is no lm_head.weight).",
        "Block l's weights are the entries whose name starts with f'transformer.h.{l}.', with that prefix "
        "removed: {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}; pass them to "
        "your transformer_block with config.n_head.",
        "loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-100) when targets "
        "is given, else None; return (logits, loss).",
    ],
    solution='''import torch
import torch.nn.functional as F


def gpt_forward(idx, params, config, targets=None):
    B, T = idx.shape
    E, P = params["transformer.wte.weight"], params["transformer.wpe.weight"]   # (V, C), (block_size, C)
    h = E[idx] + P[:T]                                                    # (B, T, C)
    for l in range(config.n_layer):
        prefix = f"transformer.h.{l}."
        block = {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}
        h = transformer_block(h, block, config.n_head)                    # (B, T, C)
    h = layer_norm(h, params["transformer.ln_f.weight"], params.get("transformer.ln_f.bias"))
    logits = h @ E.T                                                      # (B, T, V): tied head
    loss = None
    if targets is not None:
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
    return logits, loss
''',
    atol=1e-5, rtol=1e-4,
    check_grad=True, grad_args=("params",),   # train_step differentiates the loss through it w.r.t. every weight
    solution_globals=lambda: {"layer_norm": layer_norm_reference, "transformer_block": transformer_block_reference},
))


class _Nested(dict):
    """A dict in a reference output (parameters, optimizer state). ``compare_outputs`` handles tensors,
    numbers and sequences only, so this dict compares equal to anything there and the exercise's
    ``compare`` (:func:`_compare_nested`) checks it entry by entry. Otherwise an ordinary dict, so the
    reference can be used in place of the learner's function."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = None


def _compare_nested(expected, got, where: str, atol: float, rtol: float) -> Optional[str]:
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"{where} should be a dict, got {type(got).__name__}"
        for k in expected:
            if k not in got:
                return f"{where} has no entry {k!r} (expected keys: {', '.join(map(str, expected))})"
            problem = _compare_nested(expected[k], got[k], f"{where}[{k!r}]", atol, rtol)
            if problem:
                return problem
        return None
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"{where} should be a tuple of {len(expected)} items, got {type(got).__name__}" + (
                f" of {len(got)}" if isinstance(got, (tuple, list)) else "")
        for i, (e, o) in enumerate(zip(expected, got)):
            problem = _compare_nested(e, o, f"{where}[{i}]", atol, rtol)
            if problem:
                return problem
        return None
    if isinstance(expected, int) and not isinstance(expected, bool):   # the step counter
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, (int, float)) or got != expected:
            return f"{where}: expected {expected}, got {got!r}"
        return None
    problem, _ = compare_outputs(expected, got, atol, rtol, True, where=where)
    return problem


def train_step_reference(params, state, x, y, config, lr, train_cfg):
    """One step of the package's ``train_lm``: its ``configure_optimizer`` (torch AdamW, weight decay on
    the 2-D weights) and ``train_step`` (loss, backward, ``clip_grad_norm_``, AdamW step)."""
    from ..lm_trainer import configure_optimizer
    from ..lm_trainer import train_step as _package_train_step

    model = _gpt_from_params(params, config).train()
    opt = configure_optimizer(model, train_cfg, x.device)
    named = dict(model.named_parameters())                     # the tied head is listed once, as wte
    for name, p in named.items():
        opt.state[p] = {"step": torch.tensor(float(state["step"])), "exp_avg": state["m"][name].clone(),
                        "exp_avg_sq": state["v"][name].clone()}
    loss = _package_train_step(model, opt, x, y, lr, train_cfg)
    new_params = {name: p.detach().clone() for name, p in named.items()}
    new_state = {"step": state["step"] + 1,
                 "m": {name: opt.state[p]["exp_avg"].clone() for name, p in named.items()},
                 "v": {name: opt.state[p]["exp_avg_sq"].clone() for name, p in named.items()}}
    return loss, _Nested(new_params), _Nested(new_state)


def _train_step_cases(g: torch.Generator):
    from ..lm_trainer import TrainConfig

    d = torch.float64                                          # float64: the check can be strict
    c1 = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16)
    c2 = GPTConfig(vocab_size=7, block_size=6, n_layer=1, n_head=1, n_embd=8, bias=False)

    def fresh(params):
        return {"step": 0, "m": {k: torch.zeros_like(v) for k, v in params.items()},
                "v": {k: torch.zeros_like(v) for k, v in params.items()}}

    def warm(params, step):
        return {"step": step, "m": {k: 0.01 * torch.randn(v.shape, generator=g, dtype=d) for k, v in params.items()},
                "v": {k: 1e-4 * (1 + torch.rand(v.shape, generator=g, dtype=d)) for k, v in params.items()}}

    def batch(V, B, T):
        return torch.randint(V, (B, T), generator=g), torch.randint(V, (B, T), generator=g)

    tc = TrainConfig(weight_decay=0.1, beta1=0.9, beta2=0.99, grad_clip=1.0)
    p1, p2, p3, p4 = (_gpt_params(c, g, dtype=d) for c in (c1, c1, c2, c1))
    cases = [
        Case("the first step (step 0, m = v = 0), lr 1e-2", (p1, fresh(p1), *batch(11, 4, 8), c1, 1e-2, tc)),
        Case("a later step (step 5, m and v from earlier steps): bias corrections 1 − β^t with t = 6",
             (p2, warm(p2, 5), *batch(11, 4, 8), c1, 1e-2, tc)),
        Case("strong clipping, grad_clip = 0.05, and weight decay 0.5 (on the 2-D weights only)",
             (p3, warm(p3, 2), *batch(7, 3, 6), c2, 1e-2,
              TrainConfig(weight_decay=0.5, beta1=0.8, beta2=0.95, grad_clip=0.05))),
        Case("grad_clip = 0 disables clipping", (p4, warm(p4, 1), *batch(11, 2, 8), c1, 3e-3,
                                                  TrainConfig(weight_decay=0.1, grad_clip=0.0))),
    ]
    p5 = _gpt_params(c1, g, dtype=d)   # drawn after the others, so that their numbers stay as they were
    cases.append(Case("grad_clip = 5, above the gradient norm (~3): the factor min(1, c / ‖g‖) is 1, the gradient is "
                      "not scaled up", (p5, warm(p5, 3), *batch(11, 4, 8), c1, 1e-2,
                                        TrainConfig(weight_decay=0.1, grad_clip=5.0))))
    return cases


def _compare_train_step(expected, got):
    return _compare_nested(expected, got, "output", atol=1e-7, rtol=1e-6)


register(Exercise(
    name="train_step",
    title="One training step: loss, gradients, clipping, AdamW",
    reference=train_step_reference,
    cases=_train_step_cases,
    hints=[
        "Make leaf copies that track gradients, p = {k: v.detach().clone().requires_grad_(True) for k, v in "
        "params.items()}; loss = gpt_forward(x, p, config, y)[1]; grads = torch.autograd.grad(loss, "
        "list(p.values())). Then update WITHOUT gradient tracking (with torch.no_grad(), or on .detach()ed tensors).",
        "Clipping by the global norm: norm = sqrt(Σ over every parameter of Σ g²); if grad_clip > 0, multiply "
        "every g by min(1, grad_clip / (norm + 1e-6)) — the rule of torch.nn.utils.clip_grad_norm_.",
        "AdamW with t = state['step'] + 1: m = β1 m + (1 − β1) g; v = β2 v + (1 − β2) g²; "
        "m̂ = m / (1 − β1^t); v̂ = v / (1 − β2^t); θ ← θ − lr (m̂ / (√v̂ + 1e-8) + λ θ) with λ = "
        "train_cfg.weight_decay for 2-D tensors (θ.dim() >= 2) and 0 for biases and gains. Return (loss, "
        "new params dict, {'step': t, 'm': ..., 'v': ...}).",
    ],
    solution='''import math

import torch


def train_step(params, state, x, y, config, lr, train_cfg):
    names = list(params)
    p = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}   # leaves that track grads
    _, loss = gpt_forward(x, p, config, y)
    grads = dict(zip(names, torch.autograd.grad(loss, [p[k] for k in names])))

    if train_cfg.grad_clip > 0:                                   # clip the global gradient norm
        norm = torch.sqrt(sum((g ** 2).sum() for g in grads.values()))
        scale = torch.clamp(train_cfg.grad_clip / (norm + 1e-6), max=1.0)
        grads = {k: g * scale for k, g in grads.items()}

    b1, b2, t = train_cfg.beta1, train_cfg.beta2, state["step"] + 1
    new_params, m, v = {}, {}, {}
    for k in names:
        g, theta = grads[k], params[k]
        m[k] = b1 * state["m"][k] + (1 - b1) * g
        v[k] = b2 * state["v"][k] + (1 - b2) * g ** 2
        m_hat, v_hat = m[k] / (1 - b1 ** t), v[k] / (1 - b2 ** t)
        decay = train_cfg.weight_decay if theta.dim() >= 2 else 0.0   # matrices only
        new_params[k] = theta - lr * (m_hat / (v_hat.sqrt() + 1e-8) + decay * theta)
    return loss.detach(), new_params, {"step": t, "m": m, "v": v}
''',
    atol=1e-7, rtol=1e-6, compare=_compare_train_step, time_limit_s=10.0,
    solution_globals=lambda: {"gpt_forward": gpt_forward_reference},
))


def generate_reference(params, config, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, seed=0):
    """The package's ``GPT.generate`` with ``generator=torch.Generator().manual_seed(seed)``."""
    model = _gpt_from_params(params, config)
    return model.generate(idx, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                          generator=torch.Generator().manual_seed(seed))


def _generate_cases(g: torch.Generator):
    c1 = GPTConfig(vocab_size=11, block_size=16, n_layer=2, n_head=2, n_embd=16)
    c2 = GPTConfig(vocab_size=9, block_size=8, n_layer=1, n_head=2, n_embd=8)
    p1, p2 = _gpt_params(c1, g), _gpt_params(c2, g)
    prompt = torch.randint(11, (2, 3), generator=g)
    return [
        Case("temperature 1, 10 new tokens for 2 prompts", (p1, c1, prompt, 10), {"seed": 0}),
        Case("temperature 0.5 (sharper)", (p1, c1, prompt, 10), {"temperature": 0.5, "seed": 1}),
        Case("temperature 2 with top-k = 3", (p1, c1, prompt, 10), {"temperature": 2.0, "top_k": 3, "seed": 2}),
        Case("top-p = 0.6 at temperature 1.5 (divide by the temperature first, then filter)",
             (p1, c1, prompt, 10), {"temperature": 1.5, "top_p": 0.6, "seed": 3}),
        Case("temperature 0: greedy, the argmax every step", (p1, c1, prompt, 6), {"temperature": 0.0}),
        Case("a prompt of 5 and 12 new tokens with block_size 8: crop the context to the last 8 tokens",
             (p2, c2, torch.randint(9, (1, 5), generator=g), 12), {"top_k": 4, "top_p": 0.9, "seed": 4}),
    ]


register(Exercise(
    name="generate",
    title="The sampling loop",
    reference=generate_reference,
    cases=_generate_cases,
    hints=[
        "Loop max_new_tokens times: feed the last config.block_size tokens, idx[:, -config.block_size:], to "
        "your gpt_forward; keep the logits of the LAST position only, z = logits[:, -1, :] (B, V); append the "
        "sampled token, idx = torch.cat([idx, next_id], dim=1); return the whole idx (prompt included).",
        "Reshape the distribution in the package's order: z / temperature, then top_k_filter(z, top_k) if "
        "top_k, then top_p_filter(z, top_p) if top_p. temperature == 0 means greedy: next_id = "
        "z.argmax(-1, keepdim=True).",
        "Same seed, same tokens: make ONE generator = torch.Generator().manual_seed(seed) before the loop and "
        "draw with torch.multinomial(torch.softmax(z, dim=-1), 1, generator=generator) (B, 1); another "
        "sampler (Categorical, Gumbel) draws other tokens. Wrap the loop in torch.no_grad().",
    ],
    solution='''import torch


@torch.no_grad()
def generate(params, config, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, seed=0):
    generator = torch.Generator().manual_seed(seed)
    for _ in range(max_new_tokens):
        logits, _ = gpt_forward(idx[:, -config.block_size:], params, config)   # (B, T, V), T <= block_size
        z = logits[:, -1, :]                                                   # (B, V): the last position
        if temperature == 0:
            next_id = z.argmax(dim=-1, keepdim=True)                           # greedy
        else:
            z = z / temperature
            if top_k is not None:
                z = top_k_filter(z, top_k)
            if top_p is not None:
                z = top_p_filter(z, top_p)
            next_id = torch.multinomial(torch.softmax(z, dim=-1), 1, generator=generator)   # (B, 1)
        idx = torch.cat([idx, next_id], dim=1)                                 # (B, T + 1)
    return idx
''',
    atol=0.0, rtol=0.0, time_limit_s=10.0,
    solution_globals=lambda: {"gpt_forward": gpt_forward_reference, "top_k_filter": _top_k_filter,
                              "top_p_filter": _top_p_filter},
))


__all__ = ["causal_attention", "layer_norm_reference", "transformer_block_reference", "gpt_forward_reference",
           "train_step_reference", "generate_reference"]
