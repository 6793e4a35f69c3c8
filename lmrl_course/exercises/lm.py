"""Exercises of the language-model track (notebooks 01-03).

Every reference is the package's own function (or a one-line call of it), so a learner's answer is
compared with exactly the code the rest of the course imports.

- 01 cross-entropy: ``log_softmax``, ``cross_entropy``
- 02 attention:     ``causal_attention``, ``split_heads``, ``merge_heads``
- 03 GPT:           ``count_parameters``, ``top_p_filter``
"""
from __future__ import annotations

import torch

from ..attention import merge_heads as _merge_heads
from ..attention import scaled_dot_product_attention
from ..attention import split_heads as _split_heads
from ..gpt import GPTConfig, count_parameters_by_formula
from ..gpt import top_p_filter as _top_p_filter
from ..losses import cross_entropy as _cross_entropy
from ..losses import log_softmax as _log_softmax
from . import register
from .core import Case, Exercise


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
        "L = -(1/|S|) Σ_{n in S} log softmax(z_n)[y_n], where S are the positions whose target is not "
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
    forbidden_hint="write softmax(Q Kᵀ / √d_k + M) V out: the matmuls, the mask and the softmax",
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
             "stays, and the mask must be put back in vocabulary order",
))


__all__ = ["causal_attention"]
