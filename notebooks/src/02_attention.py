# %% [markdown]
# # 02 · Attention: letting every character read the ones before it
#
# **What you will build:** scaled dot-product attention, written out line by line; the causal mask
# that stops a language model from reading the future; multi-head attention as nothing but reshapes;
# and a look inside the course's trained Shakespeare GPT to see what its heads attend to. Notebook 03
# stacks these pieces into a GPT.
#
# **Learning goals**
# - Say why a uniform average of the past loses information, and how attention's data-dependent
#   weights fix it.
# - Write $\mathrm{Attention}(\mathbf Q, \mathbf K, \mathbf V) = \mathrm{softmax}(\mathbf Q\mathbf K^\top / \sqrt{d_k} + M)\,\mathbf V$ and check it
#   against `torch.nn.functional.scaled_dot_product_attention`, with and without masks.
# - Measure why the scores are divided by $\sqrt{d_k}$.
# - Build the causal mask, and know what happens to a query that may attend to nothing.
# - Split a (B, T, C) tensor into H heads and merge them back.
# - Show that one attention layer without positional information cannot tell the order of its inputs,
#   and measure how order leaks in once causal layers are stacked.
#
# **Prerequisites:** notebook 01 (softmax, log-softmax, cross-entropy, the character tokenizer).

# %%
# %matplotlib inline
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import matplotlib.pyplot as plt

from lmrl_course.device import setup_notebook, seed_everything

device = setup_notebook(seed=0)
plt.rcParams["figure.dpi"] = 80          # small stored figures

# %% [markdown]
# ## 1. Why averaging the past is not enough
#
# The bigram model of notebook 01 sees one character. The simplest way to let position $t$ see *all*
# characters $x_1..x_t$ is to average their vectors: $\bar h_t = \frac{1}{t}\sum_{s \le t} h_s$. As a
# matrix product, with $W$ lower-triangular and each row summing to 1, that is $\bar h = W h$ (the $h_s$
# stacked as the rows of $h$) — and the same $W$ comes out of a softmax over scores that are 0 where
# allowed and $-\infty$ in the future:

# %%
T = 5
W_avg = torch.tril(torch.ones(T, T))
W_avg = W_avg / W_avg.sum(dim=1, keepdim=True)                      # row t: 1/t on s <= t
scores = torch.zeros(T, T).masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool)), float("-inf"))
W_softmax = torch.softmax(scores, dim=-1)
print(W_avg.numpy().round(3))
print("softmax of masked zeros gives the same matrix:", torch.allclose(W_avg, W_softmax))

# %% [markdown]
# The average throws away two things a language model needs:
#
# 1. **order** — "stressed" and "desserts" contain the same letters, so at the last position the
#    averages of their (one-hot) character vectors are *identical*, and any model reading only the
#    average must predict the same next character for both;
# 2. **relevance** — every past character gets weight $1/t$, the one that matters (say, the opening
#    quote that needs closing) as much as any other, and ever less as the text grows.

# %%
alphabet = sorted(set("stresseddesserts"))
onehot = lambda word: F.one_hot(torch.tensor([alphabet.index(c) for c in word]), len(alphabet)).float()
for word in ["stressed", "desserts"]:
    h = onehot(word)                                                   # (T, C)
    avg_last = h.mean(dim=0)                                           # average at the last position
    print(f"{word}: average at the last position = {avg_last.numpy().round(3).tolist()}")

# %% [markdown]
# **Attention** keeps the weighted average but lets the weights depend on the data: each position
# asks a question (a **query** $q_t$), each position offers a description of itself (a **key** $k_s$)
# and a message (a **value** $v_s$). Position $t$ reads mostly from the positions whose keys match its
# query.
#
# ## 2. Scaled dot-product attention, written out
#
# Stack the queries, keys and values of all positions into matrices $\mathbf Q$ (T_q × d_k), $\mathbf K$
# (T_k × d_k), $\mathbf V$ (T_k × d_v) (bold: plain $V$ is the vocabulary size):
#
# $$\mathrm{Attention}(\mathbf Q, \mathbf K, \mathbf V) = \mathrm{softmax}\!\left(\frac{\mathbf Q \mathbf K^\top}{\sqrt{d_k}} + M\right) \mathbf V .$$
#
# Entry $(t, s)$ of $\mathbf Q\mathbf K^\top$ is the dot product $q_t \cdot k_s$: how well key $s$ matches
# query $t$. The softmax runs **along the keys** (the last axis), so each row is a distribution over the
# positions that query $t$ reads. $M$ is 0 where reading is allowed and $-\infty$ where it is not. Any leading
# dimensions (batch, heads) just come along.

# %%
def attention(q, k, v, mask=None):
    """q: (..., Tq, dk), k: (..., Tk, dk), v: (..., Tk, dv); mask: bool, True = may attend."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])    # (..., Tq, Tk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)                      # each row sums to 1
    return weights @ v                                           # (..., Tq, dv)

# %% [markdown]
# PyTorch ships a fused version, `F.scaled_dot_product_attention` (a bool `attn_mask` with True = may
# attend, or `is_causal=True`), and the package has a written-out one with the same conventions. All
# three agree on random inputs — no mask, a random mask (each row keeps at least one key), and the causal mask:

# %%
from lmrl_course.attention import scaled_dot_product_attention, causal_mask

seed_everything(1)
B, H, T, hs = 2, 3, 6, 8
q, k, v = torch.randn(B, H, T, hs), torch.randn(B, H, T, hs), torch.randn(B, H, T, hs)
random_mask = torch.rand(B, H, T, T) < 0.6
random_mask[..., 0] = True                                       # every query may read key 0
for name, mask in [("no mask", None), ("random mask", random_mask), ("causal mask", causal_mask(T))]:
    ours = attention(q, k, v, mask)
    theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    package = scaled_dot_product_attention(q, k, v, mask=mask)
    print(f"{name:<12} max |ours - torch| = {(ours - theirs).abs().max().item():.1e}   "
          f"max |ours - package| = {(ours - package).abs().max().item():.1e}")
print("is_causal=True, torch vs ours:",
      f"{(F.scaled_dot_product_attention(q, k, v, is_causal=True) - attention(q, k, v, causal_mask(T))).abs().max().item():.1e}")

# %% [markdown]
# ## 3. Why divide by $\sqrt{d_k}$?
#
# If the entries of $q$ and $k$ are independent with mean 0 and variance 1 (when that is so in a real
# network is measured just below), then $q \cdot k = \sum_{i=1}^{d_k} q_i k_i$ is a sum of
# $d_k$ terms of variance 1: its **variance is $d_k$**. Wide heads give huge scores, the softmax of huge
# scores is nearly one-hot (**saturated**), and a saturated softmax has almost zero gradient — the
# weights stop learning. Dividing by $\sqrt{d_k}$ brings the variance back to 1 for every $d_k$. Measured:

# %%
seed_everything(2)
dks = [4, 16, 64, 256, 1024]
rows = []
for dk in dks:
    q = torch.randn(2000, 16, dk)
    k = torch.randn(2000, 16, dk)
    raw = (q[:, :1] @ k.transpose(-2, -1)).squeeze(1)               # (2000, 16): one query, 16 keys
    scaled = raw / math.sqrt(dk)
    max_w_raw = torch.softmax(raw, dim=-1).amax(dim=-1).mean().item()
    max_w_scaled = torch.softmax(scaled, dim=-1).amax(dim=-1).mean().item()
    rows.append((dk, raw.var().item(), scaled.var().item(), max_w_raw, max_w_scaled))
print(f"{'d_k':>5} {'var(q·k)':>9} {'var(q·k/√d_k)':>14} {'mean max weight':>16} {'(scaled)':>9}")
for dk, vr, vs, mr, ms in rows:
    print(f"{dk:>5} {vr:>9.1f} {vs:>14.3f} {mr:>16.3f} {ms:>9.3f}")

fig, axes = plt.subplots(1, 2, figsize=(9.5, 3))
axes[0].loglog(dks, [r[1] for r in rows], "o-", label="q·k")
axes[0].loglog(dks, [r[2] for r in rows], "o-", label="q·k / √d_k")
axes[0].set_xlabel("d_k")
axes[0].set_ylabel("variance of the score")
axes[0].legend()
axes[1].semilogx(dks, [r[3] for r in rows], "o-", label="without scaling")
axes[1].semilogx(dks, [r[4] for r in rows], "o-", label="with 1/√d_k")
axes[1].axhline(1 / 16, c="gray", ls=":", label="uniform over 16 keys")
axes[1].set_xlabel("d_k")
axes[1].set_ylabel("mean largest attention weight")
axes[1].legend()
plt.show()

# %% [markdown]
# With unit-variance $q$ and $k$, a 64-dimensional head without the scaling already puts most of its
# weight on a single key; with it, the weights stay spread out whatever $d_k$ is. The gradient follows:
# the softmax Jacobian is $\mathrm{diag}(w) - w w^\top$, which is 0 for a one-hot $w$. One draw of $q$
# and $k$ says little (the gradient's size varies a lot from draw to draw), so here are 1000 draws per
# $d_k$ — one query, 16 keys, a random upstream gradient — with the median of $\lVert\partial \mathcal L/\partial
# \text{scores}\rVert$ and its 10th and 90th percentiles:

# %%
seed_everything(3)
print(f"{'d_k':>5} {'':<7} {'median':>9}   {'10th – 90th percentile':<22}")
for dk in [16, 64, 256]:
    q, k, upstream = torch.randn(1000, 1, dk), torch.randn(1000, 16, dk), torch.randn(1000, 1, 16)
    for scale, name in [(1.0, "raw"), (1 / math.sqrt(dk), "scaled")]:
        s = ((q @ k.transpose(-2, -1)) * scale).requires_grad_(True)  # (1000, 1, 16) scores
        (torch.softmax(s, dim=-1) * upstream).sum().backward()        # L = Σ w · upstream, per draw
        lo, med, hi = torch.quantile(s.grad.norm(dim=-1).flatten(), torch.tensor([0.1, 0.5, 0.9])).tolist()
        print(f"{dk:>5} {name:<7} {med:>9.2e}   {lo:.2e} – {hi:.2e}")

# %% [markdown]
# Without the scaling the median gradient falls from 0.19 at $d_k = 16$ to 0.060 at 64 and 0.0033 at
# 256, and one draw in ten at $d_k = 256$ gets less than $10^{-7}$; with it, the median stays at
# 0.26–0.27 for every $d_k$. The spread is wide — one unscaled draw in ten at $d_k = 256$ still gets
# more than 0.29 — so without the scaling not every wide head stops learning, but the typical one gets a
# gradient about 80 times smaller at $d_k = 256$ than with it.
#
# ### Does a real network have unit-variance $q$ and $k$?
#
# It depends on the initialisation: not with GPT-2's, yes with the package's default. In a GPT block, $q = \mathrm{LN}(h)\,W_Q$: the
# LayerNorm output has variance about 1 per channel and each of the $C$ columns of $W_Q$ is drawn with
# standard deviation $\sigma$, so $\mathrm{var}(q_i) \approx C\sigma^2$. With GPT-2's $\sigma = 0.02$
# (`init_std=0.02`) and $C = 128$ that is $128 \cdot 0.0004 = 0.051$: the scores are small and attention
# starts out near uniform (how near is measured below). With $\sigma = 1/\sqrt{\text{fan\_in}}$
# (`init_std=None`, the package's default), $C\sigma^2 = 1$: the unit-variance picture above. The trained GPT's $q$ and $k$
# have variances of order 1 (the last four rows below). Measured on 64 windows of 16 Shakespeare
# characters: the variance of $q$ and $k$ in the first attention layer (in every layer for the trained
# model), and the mean largest of the 16 weights per
# query (no mask; 1/16 = 0.062 is uniform), without and with the $1/\sqrt{d_k}$. For the trained model
# "without" is a counterfactual — it was trained with the scaling — and shows how peaked its scores would
# be undivided:

# %%
from lmrl_course.attention import split_heads as package_split_heads
from lmrl_course.data import CharTokenizer, load_text
from lmrl_course.gpt import GPT, GPTConfig, load_pretrained
from lmrl_course.paths import GPT_CHECKPOINT_PATH

text = load_text()
tok = CharTokenizer.from_text(text)
seed_everything(11)
starts = torch.randint(len(text) - 16, (64,))
windows = torch.tensor([tok.encode(text[s:s + 16]) for s in starts.tolist()])    # (64, 16)


@torch.no_grad()
def head_statistics(model, layer=0):
    """d_k, var(q), var(k), mean largest attention weight (raw scores, scaled scores) in `layer`."""
    h = model._embed(windows)                                                    # (B, T, C)
    for block in model.transformer.h[:layer]:
        h = block(h)
    block = model.transformer.h[layer]
    q, k, _ = block.attn.c_attn(block.ln_1(h)).split(model.config.n_embd, dim=-1)
    q, k = package_split_heads(q, model.config.n_head), package_split_heads(k, model.config.n_head)  # (B, H, T, hs)
    raw = q @ k.transpose(-2, -1)                                                # (B, H, T, T)
    largest = lambda s: torch.softmax(s, dim=-1).amax(dim=-1).mean().item()
    return q.shape[-1], q.var().item(), k.var().item(), largest(raw), largest(raw / math.sqrt(q.shape[-1]))


rows = []
for C in (128, 256):
    for init_std, name in ((0.02, "0.02 (GPT-2)"), (None, "1/√fan_in")):
        seed_everything(0)
        fresh = GPT(GPTConfig(vocab_size=tok.vocab_size, n_embd=C, n_head=4, init_std=init_std)).eval()
        rows.append((f"at init, C = {C}, σ = {name}",) + head_statistics(fresh))
if GPT_CHECKPOINT_PATH.exists():
    shipped, _ = load_pretrained(device="cpu")
    for layer in range(shipped.config.n_layer):
        rows.append((f"shipped GPT (trained), layer {layer}",) + head_statistics(shipped, layer))
print(f"{'model':<37}{'d_k':>4}{'var(q)':>8}{'var(k)':>8}{'largest weight: raw':>21}{'scaled':>8}")
for name, dk, vq, vk, w_raw, w_scaled in rows:
    print(f"{name:<37}{dk:>4}{vq:>8.3f}{vk:>8.3f}{w_raw:>21.3f}{w_scaled:>8.3f}")

# %% [markdown]
# So the saturation above is what a head *would* do with unit-variance $q$ and $k$, and that is the
# case of $1/\sqrt{\text{fan\_in}}$ init (largest weight 0.84 of 1 without the scaling at $d_k = 64$,
# 0.24 with it) and of the trained network: its 48-dimensional heads have var(q) 0.77–0.88 and var(k)
# 0.72–2.8, and their undivided scores would put 0.84–0.87 of the weight on one key, against 0.32–0.45
# with the division. With GPT-2's $\sigma = 0.02$, var(q) is 0.05 at $C = 128$ and 0.10 at
# $C = 256$: the scaled heads are close to uniform (0.068 and 0.074, against 1/16 = 0.062), and the raw
# ones only mildly peaked (0.098 and 0.200, against 0.76 and 0.84 with unit variance at the same $d_k$). So the
# division changes little in the first forward pass of a 0.02-initialised GPT at $C = 128$, and noticeably at
# $C = 256$ (0.200 against 0.074); it matters fully once $q$ and $k$ have variance
# of order 1 — from the start with $1/\sqrt{\text{fan\_in}}$ init, and in the trained network. (We
# measured forward passes only; what the scaling does to training itself is not measured here.)

# %% [markdown]
# ## 4. The causal mask
#
# A language model predicts $x_{t+1}$ from $x_{\le t}$, and in training it does so for every $t$ of a
# sequence at once. If position $t$ could read position $t+1$ it would simply copy the answer. The
# **causal mask** allows key $s$ for query $t$ only when $s \le t$: a lower-triangular boolean matrix.

# %%
seed_everything(4)
T = 8
q, k = torch.randn(T, 16), torch.randn(T, 16)
mask = causal_mask(T)                                                # (T, T), True on and below the diagonal
w = torch.softmax((q @ k.T / 4.0).masked_fill(~mask, float("-inf")), dim=-1)
fig, axes = plt.subplots(1, 2, figsize=(8, 3.3))
axes[0].imshow(mask.numpy(), cmap="Greys")
axes[0].set_title("causal mask (dark = may attend)")
im = axes[1].imshow(w.numpy(), cmap="viridis")
axes[1].set_title("attention weights")
for ax in axes:
    ax.set_xlabel("key position s")
    ax.set_ylabel("query position t")
fig.colorbar(im, ax=axes[1], shrink=0.8)
plt.show()
print("row sums:", w.sum(dim=-1).numpy().round(4).tolist())

# %% [markdown]
# **Your turn:** write `causal_attention(q, k, v)` — scaled dot-product attention with the causal
# mask. q and k have shape (..., T, d_k); v has shape (..., T, d_v), and its last width d_v may differ
# from d_k; the output is (..., T, d_v). Divide the scores by $\sqrt{d_k}$ (d_k from q, not from v),
# build the mask on the inputs' device with `torch.tril`, and keep the inputs' dtype (float64 in,
# float64 out). Write it out: an answer that calls `F.scaled_dot_product_attention` fails the check.
# The checker also compares gradients.

# %% tags=["exercise"]
# EXERCISE: causal_attention
def causal_attention(q, k, v):
    # Replace the next line with your code (about five lines).
    raise NotImplementedError

# %%
from lmrl_course.exercises import check

result_causal = check("causal_attention", causal_attention)
result_causal

# %% [markdown]
# Causality, tested the direct way: change the keys and values of the **last** position; every earlier
# output must stay exactly the same.

# %%
causal_attention = result_causal.function
seed_everything(5)
q, k, v = torch.randn(1, 6, 8), torch.randn(1, 6, 8), torch.randn(1, 6, 8)
k2, v2 = k.clone(), v.clone()
k2[:, -1] += 10.0
v2[:, -1] += 10.0
diff = (causal_attention(q, k, v) - causal_attention(q, k2, v2)).abs().amax(dim=-1)[0]
print("max change of the output at each position:", [round(x, 4) for x in diff.tolist()])

# %% [markdown]
# ### A query that may attend to nothing
#
# With padding, a whole row of the mask can be False (a padding position that should read nothing).
# Then the softmax is taken over a row of $-\infty$: $e^{-\infty} / \sum e^{-\infty} = 0/0 =$ `nan`, and
# one `nan` spreads through every later matrix product into the loss. The package (and recent PyTorch)
# return a zero output for such a row instead:

# %%
seed_everything(6)
q, k, v = torch.randn(3, 4), torch.randn(3, 4), torch.randn(3, 4)
mask = torch.tensor([[False, False, False],                          # query 0 may read nothing
                     [True, False, False],
                     [True, True, True]])
print("naive softmax :", attention(q, k, v, mask)[0].tolist())
print("package       :", scaled_dot_product_attention(q, k, v, mask=mask)[0].tolist())
print("torch         :", F.scaled_dot_product_attention(q[None], k[None], v[None], attn_mask=mask)[0, 0].tolist())
print("the other rows agree:",
      torch.allclose(attention(q, k, v, mask)[1:], scaled_dot_product_attention(q, k, v, mask=mask)[1:]))

# %% [markdown]
# ## 5. Multi-head attention is reshaping
#
# One attention pattern per layer is restrictive: a character may need to look at the previous
# character *and* at the start of the current word. **Multi-head attention** runs H attentions side by
# side, each on its own slice of hs = C / H channels, and concatenates the results. No loop over heads
# is needed: reshape (B, T, C) to (B, T, H, hs), move the head axis next to the batch — (B, H, T, hs) —
# and the attention above already treats (B, H) as batch dimensions.
#
# **Your turn (two small ones):** `split_heads(x, n_head)`: (B, T, C) → (B, H, T, hs), head h getting
# channels h·hs … (h+1)·hs − 1; and `merge_heads(x)`: (B, H, T, hs) → (B, T, C), its inverse.

# %% tags=["exercise"]
# EXERCISE: split_heads
def split_heads(x, n_head):
    # Replace the next line with your code (two lines: a view and a transpose).
    raise NotImplementedError

# %%
result_split = check("split_heads", split_heads)
result_split

# %% tags=["exercise"]
# EXERCISE: merge_heads
def merge_heads(x):
    # Replace the next line with your code (two lines).
    raise NotImplementedError

# %%
result_merge = check("merge_heads", merge_heads)
result_merge

# %% [markdown]
# Now the whole layer, from scratch: one linear map makes $\mathbf Q, \mathbf K, \mathbf V$ for all heads at once (`c_attn`,
# C → 3C), the heads attend in parallel, they are merged, and an output projection $W_O$ (`c_proj`)
# mixes them. We copy the weights of the package's `CausalSelfAttention` and compare:

# %%
from lmrl_course.attention import CausalSelfAttention
from lmrl_course.gpt import GPTConfig

split_heads, merge_heads = result_split.function, result_merge.function


def multi_head_attention(x, c_attn, c_proj, n_head):
    C = x.shape[-1]
    q, k, v = c_attn(x).split(C, dim=-1)                                    # 3 x (B, T, C)
    q, k, v = split_heads(q, n_head), split_heads(k, n_head), split_heads(v, n_head)   # (B, H, T, hs)
    y = causal_attention(q, k, v)                                           # (B, H, T, hs)
    return c_proj(merge_heads(y))                                           # (B, T, C)


seed_everything(7)
cfg = GPTConfig(vocab_size=65, n_embd=32, n_head=4)
layer = CausalSelfAttention(cfg).eval()
x = torch.randn(2, 10, 32)                                                  # (B, T, C)
with torch.no_grad():
    ours = multi_head_attention(x, layer.c_attn, layer.c_proj, n_head=4)
    theirs = layer(x)
print("max |ours - package CausalSelfAttention| =", f"{(ours - theirs).abs().max().item():.1e}")

# %% [markdown]
# ## 6. Attention does not know where things are
#
# Nothing in $\mathrm{softmax}(\mathbf Q\mathbf K^\top/\sqrt{d_k})\mathbf V$ refers to a position: permute the input rows and
# the output rows are permuted the same way (**permutation equivariance**). Without a causal mask that
# is exact for the whole sequence, and it stays exact for any number of stacked layers. With the mask,
# **one** layer's last position reads a *set* of earlier tokens, so shuffling them changes nothing
# there: to a single position-blind causal layer, two prefixes that are anagrams of each other
# ("stressed", "desserts") look the same at the last position.
#
# That stops being true once causal layers are stacked. In the first layer, position $s$ reads the
# prefix $x_1..x_s$, and shuffling the prefix changes which tokens those are: the first layer's outputs
# at the earlier positions are not just permuted but *different*, so the second layer's last position
# reads a different set. Order leaks in through the mask, and causal language models trained without
# any position embedding do learn positional information this way (Haviv et al., 2022). The direct fix
# is to add a **position embedding** $P[t]$ to each token's vector (notebook 03). Below, the layers use
# a residual connection, $h \mapsto h + \mathrm{attn}(h)$, as in a GPT block:

# %%
seed_everything(8)
T, C = 10, 32
x = torch.randn(1, T, C)                                                   # token vectors, no positions
perm = torch.randperm(T)
full = CausalSelfAttention(GPTConfig(vocab_size=65, n_embd=C, n_head=4, causal=False)).eval()
causal = CausalSelfAttention(GPTConfig(vocab_size=65, n_embd=C, n_head=4)).eval()
pos = torch.randn(T, C)                                                    # a position embedding P
prefix_perm = torch.cat([torch.randperm(T - 1), torch.tensor([T - 1])])    # shuffle all but the last
full_2 = CausalSelfAttention(GPTConfig(vocab_size=65, n_embd=C, n_head=4, causal=False)).eval()
causal_2 = CausalSelfAttention(GPTConfig(vocab_size=65, n_embd=C, n_head=4)).eval()


def stack(*layers):
    """h -> h + layer(h) for each layer in turn: residual attention layers, no MLP, no LayerNorm."""
    def f(h):
        for layer in layers:
            h = h + layer(h)
        return h
    return f


one_causal, two_causal, two_full = stack(causal), stack(causal, causal_2), stack(full, full_2)
last_change = lambda f: (f(x[:, prefix_perm])[:, -1] - f(x)[:, -1]).abs().max().item()
with torch.no_grad():
    print("no mask, no positions:   max |f(x[perm]) - f(x)[perm]| =",
          f"{(full(x[:, perm]) - full(x)[:, perm]).abs().max().item():.1e}")
    print("no mask, with positions: max |f(x[perm]+P) - f(x+P)[perm]| =",
          f"{(full(x[:, perm] + pos) - full(x + pos)[:, perm]).abs().max().item():.1e}")
    print("causal, no positions:    last output, prefix shuffled, max diff =",
          f"{(causal(x[:, prefix_perm])[:, -1] - causal(x)[:, -1]).abs().max().item():.1e}")
    print("causal, with positions:  last output, prefix shuffled, max diff =",
          f"{(causal(x[:, prefix_perm] + pos)[:, -1] - causal(x + pos)[:, -1]).abs().max().item():.1e}")
    print("\nresidual layers, no positions:")
    print("  no mask, 2 layers: max |f(x[perm]) - f(x)[perm]| =",
          f"{(two_full(x[:, perm]) - two_full(x)[:, perm]).abs().max().item():.1e}")
    print("  causal, 1 layer:   last output, prefix shuffled, max diff =", f"{last_change(one_causal):.1e}")
    print("  causal, 2 layers:  last output, prefix shuffled, max diff =", f"{last_change(two_causal):.1e}",
          f"(the last output itself has entries up to {two_causal(x)[:, -1].abs().max().item():.1f})")

# %% [markdown]
# With one causal layer, shuffling the prefix changes the last output only by rounding ($10^{-7}$);
# with two, by 0.13 on outputs of size up to 2.6 — the second layer's last position can tell the
# orders apart. Without a mask, two layers are as blind to order as one. A stack of causal layers can
# therefore *learn* something about positions, but only indirectly; position embeddings give every
# layer the position of every token directly.

# %% [markdown]
# ## Play: what does a trained GPT attend to?
#
# The course ships a small GPT trained on Tiny Shakespeare (notebook 03 trains a 17× smaller one of the same design). Pick a
# layer and a head; row $t$ of the heatmap is where the character at position $t$ reads from. The table
# printed first measures every head on the sentence below, over the queries after the line break: the
# mean weight on the character 1, 2 and 3 positions back, on the line break `⏎` that starts the line,
# and how spread out the weights are (the entropy of each row divided by its largest possible value,
# $\ln(t+1)$: 1 = uniform over the past, 0 = all weight on one key). Can you find, in the table and then
# in the heatmaps, a head that reads the previous character (a bright line just below the diagonal; the
# widget opens on layer 0, head 3), heads that read further back by a fixed offset, one that reads the
# start of the line, and heads that spread out? (One sentence is an anecdote: try your own in
# `sentence`.)

# %%
import ipywidgets as widgets
from lmrl_course.widgets import PlotWidget
from lmrl_course.gpt import GPT, load_pretrained
from lmrl_course.paths import GPT_CHECKPOINT_PATH

if GPT_CHECKPOINT_PATH.exists():
    model, tok = load_pretrained(device="cpu")
    print("loaded the shipped checkpoint:", model.num_parameters(), "parameters,",
          model.config.n_layer, "layers,", model.config.n_head, "heads")
else:  # the checkpoint is made by `python -m lmrl_course.scripts.train_shakespeare`
    from lmrl_course.data import CharTokenizer, load_text
    seed_everything(0)
    tok = CharTokenizer.from_text(load_text())
    model = GPT(GPTConfig(vocab_size=tok.vocab_size)).eval()
    print("no checkpoint found: showing a freshly initialised (untrained) GPT")

sentence = "ROMEO:\nBut soft, what light through yonder window breaks?"[: model.config.block_size]
idx = torch.tensor([tok.encode(sentence)])
maps = model.attention_maps(idx)                                          # n_layer x (1, H, T, T)
labels = [{" ": "␣", "\n": "⏎"}.get(c, c) for c in sentence]

t0 = sentence.index("\n") + 1                                             # queries after the line break
print(f"{'layer':>5}{'head':>5}{'1 back':>8}{'2 back':>8}{'3 back':>8}{'on ⏎':>7}{'spread':>8}")
for layer in range(model.config.n_layer):
    for head in range(model.config.n_head):
        w = maps[layer][0, head]                                          # (T, T)
        back = [torch.diagonal(w, offset=-d)[t0 - d:].mean().item() for d in (1, 2, 3)]
        rows = [w[t, :t + 1] for t in range(t0, len(sentence))]
        spread = sum(-(r * r.clamp_min(1e-12).log()).sum().item() / math.log(len(r)) for r in rows) / len(rows)
        print(f"{layer:>5}{head:>5}" + "".join(f"{b:>8.2f}" for b in back) + f"{w[t0:, t0 - 1].mean():>7.2f}{spread:>8.2f}")


def draw_attention(fig, layer, head):
    w = maps[layer][0, head] if head != "mean" else maps[layer][0].mean(dim=0)    # (T, T)
    ax = fig.subplots()
    ax.imshow(w.numpy(), cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, fontsize=6)
    ax.set_yticks(range(len(labels)), labels, fontsize=6)
    ax.set_xlabel("key (read from)")
    ax.set_ylabel("query (reading)")
    prev = torch.diagonal(w, offset=-1).mean().item()
    top = [f"{labels[t]}→{labels[int(w[t].argmax())]}" for t in range(len(labels) - 6, len(labels))]
    return (f"layer {layer}, head {head}: mean weight on the previous character {prev:.3f}; "
            f"strongest read of the last 6 queries: {' '.join(top)}")


heads = list(range(model.config.n_head)) + ["mean"]
PlotWidget(draw_attention, {
    "layer": widgets.Dropdown(options=list(range(model.config.n_layer)), value=0, description="layer"),
    "head": widgets.Dropdown(options=heads, value=min(3, model.config.n_head - 1), description="head"),
}, figsize=(6.5, 6.5))

# %% [markdown]
# > **Common mistake 1: the softmax over the wrong axis.**
# > The scores are (…, T_q, T_k). The softmax must normalise over the **keys** (`dim=-1`), so each
# > query gets a distribution. With `dim=-2` each *key* gets a distribution over queries instead: the
# > rows no longer sum to 1, and — worse — column $s$ is normalised over all queries $t' \ge s$,
# > including future ones, so position $t$'s output now depends on tokens after $t$. The mask is still
# > applied and the model still cheats. Both run below; we change only the last token:

# %%
def attention_wrong_axis(q, k, v):
    T = q.shape[-2]
    scores = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).masked_fill(~causal_mask(T), float("-inf"))
    return torch.softmax(scores, dim=-2) @ v                 # BUG: normalises over queries


seed_everything(9)
x = torch.randn(1, 6, 8)
x2 = x.clone()
x2[:, -1] += 3.0                                             # change only the LAST token
for name, fn in [("softmax(dim=-1), right", causal_attention), ("softmax(dim=-2), wrong", attention_wrong_axis)]:
    change = (fn(x2, x2, x2) - fn(x, x, x)).abs().amax(dim=-1)[0, :-1]
    print(f"{name}: change at the earlier positions {[round(c, 3) for c in change.tolist()]}")
w_wrong = torch.softmax((x @ x.transpose(-2, -1) / math.sqrt(8)).masked_fill(~causal_mask(6), float("-inf")), dim=-2)
print("row sums with dim=-2:", [round(s, 3) for s in w_wrong[0].sum(dim=-1).tolist()])

# %% [markdown]
# > **Common mistake 2: `q * k` (element-wise, ⊙) where $QK^\top$ (all the dot products) is meant.**
# > Papers write $\odot$ for the **element-wise** (Hadamard) product and $q \cdot k$ or $QK^\top$ for dot
# > products. `q * k` is element-wise: for (T, hs) inputs it is (T, hs), not the (T, T) score matrix, and
# > summing it over the last axis gives only $q_t \cdot k_t$ — every token compared with *itself*, the
# > diagonal of $QK^\top$:

# %%
seed_everything(10)
q, k = torch.randn(5, 4), torch.randn(5, 4)
hadamard = q * k                                             # element-wise: (T, hs)
scores = q @ k.T                                             # all dot products: (T, T)
print("q * k      shape", tuple(hadamard.shape), "  q @ k.T shape", tuple(scores.shape))
print("(q * k).sum(-1)    :", [round(s, 3) for s in hadamard.sum(-1).tolist()])
print("diagonal of q @ k.T:", [round(s, 3) for s in torch.diagonal(scores).tolist()])
print("row 4 of q @ k.T   :", [round(s, 3) for s in scores[4].tolist()], " <- what query 4 really needs")

# %% [markdown]
# What happens next depends on `keepdim`:
#
# - `(q * k).sum(-1)` has shape (…, T): one score $q_s \cdot k_s$ per position. Without a mask, a
#   softmax over it gives *one* distribution over the positions, shared by every query. For one sequence,
#   `weights @ v` then returns a single vector (hs,) instead of (T, hs); with a batch axis, (B, T) @ (B, T, hs)
#   broadcasts to (B, B, hs) and silently mixes the sequences of the batch. With the (T, T) causal mask,
#   `masked_fill` broadcasts (…, T) against (T, T): an error unless the axis before T is absent, 1 or T;
#   when it runs with that axis absent or 1, row $t$'s weights over $s \le t$ come from the keys' own scores
#   $q_s \cdot k_s$, never from the query $q_t$ (if the axis happens to equal T, row $t$ takes the scores of
#   sequence $t$ of the batch instead: wrong either way).
# - `(q * k).sum(-1, keepdim=True)` has shape (…, T, 1). Without a mask the softmax over an axis of
#   length 1 is 1, and `weights @ v` fails on the shapes (1 against T). **With** the causal mask it runs
#   silently: `masked_fill` broadcasts it to (…, T, T), and every allowed entry of row $t$ holds the same
#   number $q_t \cdot k_t$, so the softmax is uniform over $s \le t$. The layer computes exactly the
#   running average of section 1, with the right output shape and no error.
#
# Both run below on the task of copying the **previous** character (8 symbols, sequences of 8, the
# target at position $t$ is $x_{t-1}$), one attention layer with learned token and position
# embeddings, trained for 300 Adam steps from the same initial weights on the same batches: once with
# $QK^\top$, once with the `keepdim=True` scores.

# %%
def tiny_attention_model(scores_fn, V=8, T=8, d=16):
    """Token + position embedding, one causal attention head with the given score function, a read-out."""
    emb, pos, qkv, out = nn.Embedding(V, d), nn.Parameter(0.5 * torch.randn(T, d)), nn.Linear(d, 3 * d), nn.Linear(d, V)

    def forward(ids):                                                   # ids (B, T) -> logits (B, T, V)
        q, k, v = qkv(emb(ids) + pos).split(d, dim=-1)                  # 3 x (B, T, d)
        scores = scores_fn(q, k) / math.sqrt(d)
        weights = torch.softmax(scores.masked_fill(~causal_mask(T), float("-inf")), dim=-1)   # (B, T, T)
        return out(weights @ v), weights

    params = [*emb.parameters(), pos, *qkv.parameters(), *out.parameters()]
    return forward, params


SCORES = {"q @ k.transpose(-2, -1)": lambda q, k: q @ k.transpose(-2, -1),     # (B, T, T)
          "(q * k).sum(-1, keepdim=True)": lambda q, k: (q * k).sum(-1, keepdim=True)}   # (B, T, 1): BUG
running_average = torch.tril(torch.ones(8, 8)) / torch.arange(1, 9.0)[:, None]   # row t: 1/t on s <= t
t0 = time.perf_counter()
for name, scores_fn in SCORES.items():
    seed_everything(12)
    forward, params = tiny_attention_model(scores_fn)
    opt = torch.optim.Adam(params, lr=1e-2)
    for step in range(300):
        ids = torch.randint(8, (64, 8))
        loss = F.cross_entropy(forward(ids)[0][:, 1:].reshape(-1, 8), ids[:, :-1].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        ids = torch.randint(8, (1000, 8))
        logits, weights = forward(ids)
        correct = (logits[:, 1:].argmax(-1) == ids[:, :-1]).float()              # (1000, T - 1)
    print(f"{name}: accuracy on 1000 new sequences {correct.mean():.3f} (chance 0.125); weights equal "
          f"the running average of section 1: {torch.allclose(weights, running_average.expand_as(weights))}")
    print(f"    accuracy at positions 1..7: {[round(a, 2) for a in correct.mean(dim=0).tolist()]}")
print(f"took {time.perf_counter() - t0:.1f} s")

# %% [markdown]
# The right layer learns to copy the previous character (accuracy 1.000); the one with element-wise
# scores reaches 0.409, because its weights are the running average whatever it learns (checked above:
# equal on all 1000 sequences) — all it can do is guess the previous character from the average of the
# prefix, which it does best at position 1 (0.58: only two candidates) and at 0.34–0.44 further on.
#
# ## Check yourself
#
# - Why is a uniform average of the past a poor summary for predicting the next character?
# - What are the shapes of $\mathbf Q\mathbf K^\top$, of the weights, and of the output, for $\mathbf Q$ (B, H, T, hs)?
# - Why does the variance of $q \cdot k$ grow like $d_k$, and what does that do to the softmax and its
#   gradient?
# - Along which axis does the softmax run, and what goes wrong with the other one?
# - What does a fully masked row produce with a naive softmax, and with the package?
# - How does `split_heads` turn H attentions into one batched attention?
# - Why does a transformer need position embeddings? Why can two stacked causal layers without them
#   tell two orders of the same prefix apart at the last position, when one layer cannot?
#
# **Next:** notebook 02b looks inside the embeddings a trained GPT learns and builds an LSTM, the
# recurrent network that came before attention; then notebook 03 assembles token and position
# embeddings, causal self-attention, MLPs, LayerNorm and residual connections into a GPT, trains it,
# and samples Shakespeare from it.
