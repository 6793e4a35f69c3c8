# %% [markdown]
# # 03 · GPT: a decoder-only transformer that writes Shakespeare
#
# **What you will build:** the GPT of the course, written by you from its equations — LayerNorm, the
# pre-LayerNorm transformer block (causal self-attention and an MLP on a residual stream), the whole
# forward pass with an output layer tied to the embedding, one training step (gradient clipping and
# AdamW), and the sampling loop. Each piece is checked against an independent reference: torch's own
# `F.layer_norm`, the package's `Block` and `GPT` loaded with the same weights, the package's training
# step, and `GPT.generate`. Then you train a small GPT on Tiny Shakespeare, beat the bigram model of
# notebook 01, and sample text. This GPT is the **policy** that notebooks 08–09 fine-tune with RL.
#
# **Learning goals**
# - Write LayerNorm, a transformer block and a GPT forward pass that match the package's weight for weight.
# - Count the parameters from the configuration, and see what weight tying saves.
# - Write a training step (clipping, AdamW with bias correction and decoupled weight decay) and debug
#   training the way practitioners do: the loss at initialisation, overfitting one batch, a learning-rate
#   sweep, the initialisation scale, and the train/validation gap that dropout is meant to close.
# - Estimate the compute of training (6·|θ| FLOPs per token) and compare it with the measured speed.
# - Sample with temperature, top-k and top-p; see why a key/value cache makes generation fast.
# - Know what learned, sinusoidal and rotary position encodings do; test causality directly.
#
# **Prerequisites:** notebook 01 (cross-entropy, the bigram model), notebook 02 (attention, causal
# masks, multi-head reshapes) and notebook 02b (embeddings, cosine similarity, the LSTM cell).

# %%
# %matplotlib inline
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import matplotlib.pyplot as plt

from lmrl_course.device import setup_notebook, seed_everything

device = setup_notebook(seed=0)
plt.rcParams["figure.dpi"] = 80          # small stored figures

# %%
from lmrl_course.data import load_text, CharTokenizer, train_val_split, bigram_counts

text = load_text()
tok = CharTokenizer.from_text(text)
V = tok.vocab_size
ids = torch.tensor(tok.encode(text), dtype=torch.long)
train_ids, val_ids = train_val_split(ids, 0.1)
print(f"V = {V}, train {len(train_ids):,} ids, val {len(val_ids):,} ids")

# %% [markdown]
# ## 1. The architecture
#
# A GPT maps token ids $x_1..x_T$ to logits $z_t$ for the next token at every position at once:
#
# $$h^0_t = E[x_t] + P[t] \qquad \text{(token embedding + position embedding, both learned)}$$
# $$a = h + \mathrm{Attn}(\mathrm{LN}_1(h)), \qquad h' = a + \mathrm{MLP}(\mathrm{LN}_2(a)) \qquad \text{(one block; } L \text{ of them)}$$
# $$z_t = \mathrm{LN}_f(h^L_t)\, E^\top, \qquad p_\theta(x_{t+1} \mid x_{\le t}) = \mathrm{softmax}(z_t).$$
#
# - The **residual stream** $h$ (shape (B, T, C)) runs from the embedding to the output; every block
#   *adds* to it and never overwrites it. Gradients flow straight down the additions, which is a main
#   reason deep stacks are trainable (He et al., 2016; not tested here).
# - **Pre-LayerNorm**: each sub-layer reads a normalised copy $\mathrm{LN}(h)$ (zero mean, unit variance
#   over the C channels, then a learned gain and bias); the stream itself is normalised once, at the end.
# - **Causal self-attention** (notebook 02) is the only place where positions exchange information;
#   the **MLP** ($C \to 4C \to C$ with a GELU) works on each position separately.
# - **Weight tying**: the output layer reuses the token embedding $E$ ($z_t = \mathrm{LN}_f(h^L_t)\, E^\top$): a token's
#   input vector is also the direction that predicts it.
#
# You will write this model as plain functions of its weights. The weights are a dict of tensors with
# the names of the package model's `state_dict()`, so whatever you write can be run with the weights
# of a package `GPT` and compared with it. Here are the names and shapes of a small GPT
# ($L = 2$ blocks, $C = 64$, $H = 4$ heads, context $T_{\max} = 32$):

# %%
from lmrl_course.gpt import GPT, GPTConfig

seed_everything(0)
cfg = GPTConfig(vocab_size=V, block_size=32, n_layer=2, n_head=4, n_embd=64)
package_model = GPT(cfg).eval()
params = {k: v for k, v in package_model.state_dict().items() if k != "lm_head.weight"}   # the head is tied to wte
for name, p in params.items():
    if not name.startswith("transformer.h.") or name.startswith("transformer.h.0."):
        print(f"{name:<36}{str(tuple(p.shape)):>12}")
print(f"... and the same names for block 1 (transformer.h.1.*); {len(params)} tensors in all")

# %% [markdown]
# ## 2. LayerNorm
#
# LayerNorm normalises each position's C channels separately, then applies a learned gain $\gamma$ and
# bias $\beta$ (both of shape (C,)):
#
# $$\mathrm{LN}(x) = \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}} \odot \gamma + \beta, \qquad
# \mu = \frac1C \sum_{c} x_c, \quad \sigma^2 = \frac1C \sum_c (x_c - \mu)^2 ,$$
#
# with the **biased** variance (divide by $C$, not $C - 1$) and $\varepsilon = 10^{-5}$ inside the square
# root. A model built with `GPTConfig(bias=False)` has no $\beta$: then `bias` is `None`.
#
# **Your turn:** write `layer_norm(x, weight, bias, eps=1e-5)` for `x` of shape (..., C). The check
# compares values *and gradients* with torch's `F.layer_norm`, on inputs that include rows of equal
# values (variance 0) and rows with a huge mean (where the shortcut $\sigma^2 = \overline{x^2} - \mu^2$
# loses every digit: compute the variance from $x - \mu$). Calling `F.layer_norm` itself FAILs: writing it is
# the exercise.

# %% tags=["exercise"]
# EXERCISE: layer_norm
def layer_norm(x, weight, bias, eps=1e-5):
    # Replace the next line with your code (about four lines).
    raise NotImplementedError

# %%
from lmrl_course.exercises import check

result_layer_norm = check("layer_norm", layer_norm)
result_layer_norm

# %%
layer_norm = result_layer_norm.function
seed_everything(1)
x = 5 + 3 * torch.randn(2, 4, 64)                                    # (B, T, C), far from normalised
y = layer_norm(x, torch.ones(64), torch.zeros(64))
print(f"before: mean {x.mean():.2f}, std {x.std():.2f};  after: per-position mean "
      f"{y.mean(-1).abs().max():.1e} (max |.|), per-position std {y.std(-1, correction=0).mean():.4f}")

# %% [markdown]
# ## 3. One transformer block
#
# $$a = x + \mathrm{Attn}(\mathrm{LN}_1(x)), \qquad y = a + \mathrm{MLP}(\mathrm{LN}_2(a)),
# \qquad \mathrm{MLP}(u) = W_2\, \mathrm{GELU}(W_1 u + b_1) + b_2 .$$
#
# The attention is notebook 02's multi-head causal self-attention: one matrix `attn.c_attn.weight`
# (3C, C) makes $q, k, v$ for all heads at once ($q, k, v$ = the three C-wide slices of its output), the
# heads are split (B, T, C) → (B, H, T, hs), attention runs per head, the heads are merged back and
# `attn.c_proj` ($W_O$) mixes them. Weights are stored like `nn.Linear`'s: `F.linear(u, W, b)` $= u W^\top + b$.
#
# **Your turn:** write `transformer_block(x, params, n_head)`: `x` is (B, T, C) and `params` holds one
# block's weights under the names `ln_1.weight`, `ln_1.bias`, `attn.c_attn.weight`, `attn.c_attn.bias`,
# `attn.c_proj.weight`, `attn.c_proj.bias`, `ln_2.weight`, `ln_2.bias`, `mlp.c_fc.weight` (4C, C),
# `mlp.c_fc.bias`, `mlp.c_proj.weight` (C, 4C), `mlp.c_proj.bias` (the biases are missing when the model
# has none: use `params.get(name)`, which gives `None`). Use your `layer_norm`; for the attention of
# each head you may call torch's `F.scaled_dot_product_attention(q, k, v, is_causal=True)` (equal to
# your `causal_attention` of notebook 02) or write it out; the GELU is the exact one, `F.gelu`
# (what `nn.GELU()` computes). The check loads random weights into the package's `Block` and compares
# its output, and the gradient with respect to `x`, with yours (so calling the package's `Block` FAILs).

# %% tags=["exercise"]
# EXERCISE: transformer_block
def transformer_block(x, params, n_head):
    # Replace the next line with your code (about twelve lines).
    raise NotImplementedError

# %%
result_block = check("transformer_block", transformer_block)
result_block

# %%
transformer_block = result_block.function
block_params = {k[len("transformer.h.0."):]: v for k, v in params.items() if k.startswith("transformer.h.0.")}
seed_everything(2)
h = torch.randn(1, 10, cfg.n_embd)                                    # a residual stream (B, T, C)
with torch.no_grad():
    ours, theirs = transformer_block(h, block_params, cfg.n_head), package_model.transformer.h[0](h)
print(f"block 0 of the package GPT vs {result_block.whose}, same weights: max abs diff", f"{(ours - theirs).abs().max():.1e}")

# %% [markdown]
# ## 4. The whole forward pass
#
# Embed, run the $L$ blocks, normalise, project onto the tied embedding:
# $h^0 = E[x] + P[0..T-1]$, $h^l = \mathrm{Block}_l(h^{l-1})$, $z = \mathrm{LN}_f(h^L) E^\top$. With
# targets $y$ (B, T) the loss is the mean cross-entropy over the targets that are not `-100`
# (notebook 01: ignored positions leave the sum **and** the count):
# $\mathcal L = -\frac{1}{|S|}\sum_{(b,t) \in S} \log p_\theta(y_{b,t} \mid x_{b, \le t})$.
#
# **Your turn:** write `gpt_forward(idx, params, config, targets=None)` returning `(logits, loss)`
# (loss `None` without targets). `params` has the names printed in section 1 — `transformer.wte.weight`
# $E$ (V, C), `transformer.wpe.weight` $P$ ($T_{\max}$, C), block $l$'s weights under the prefix
# `transformer.h.{l}.`, `transformer.ln_f.*` — and **no** `lm_head.weight`: the head is $E$.
# `config` gives `n_layer` and `n_head`. Build it from your `transformer_block` and `layer_norm`; calling the
# package's `GPT` or `Block` FAILs.

# %% tags=["exercise"]
# EXERCISE: gpt_forward
def gpt_forward(idx, params, config, targets=None):
    # Replace the next line with your code (about twelve lines).
    raise NotImplementedError

# %%
result_forward = check("gpt_forward", gpt_forward)
result_forward

# %% [markdown]
# Your forward pass with the package GPT's weights, on a real batch, next to the package's own:

# %%
gpt_forward = result_forward.function
from lmrl_course.data import get_batch

xb, yb = get_batch(train_ids, 32, 8, generator=torch.Generator().manual_seed(0))     # (8, 32) each
with torch.no_grad():
    logits_ours, loss_ours = gpt_forward(xb, params, cfg, yb)
    logits_package, loss_package = package_model(xb, yb)
print("logits", tuple(logits_ours.shape), "max abs diff", f"{(logits_ours - logits_package).abs().max():.1e}")
print(f"loss at initialisation: {result_forward.whose} {loss_ours:.4f}, package {loss_package:.4f}, ln V = {math.log(V):.4f}")
print(f"std of the logits at initialisation: {logits_ours.std():.3f}")

# %% [markdown]
# **The first number to look at when training starts: the loss at initialisation.** The embeddings
# start at $\mathcal N(0, 0.02^2)$, so every logit is close to 0 (std printed above) and the softmax is nearly
# uniform: the loss should be close to $\ln V = \ln 65 \approx 4.17$, and it is: 4.185, about 0.01 above.
# A loss far above $\ln V$ at step 0
# means the initial logits are too large: the model is confidently wrong before it has seen anything. In
# practitioners' experience the first steps of such a run are then spent undoing that (general experience,
# not shown here). (Andrej Karpathy's "recipe for training neural networks" lists this check among the
# first things to verify.)
#
# ## 5. How many parameters?
#
# Every weight of the model is one of a handful of kinds, and each kind has a size set by the config:
# $V$ (`vocab_size`), $T_{\max}$ (`block_size`), $C$ (`n_embd`), $L$ (`n_layer`). The number of
# heads does not appear: H heads of size C/H use the same $C \times 3C$ matrix as one big head.
#
# **Your turn:** write `count_parameters(config)` that returns the number of parameters of
# `GPT(config)` from the config alone (no model): embeddings, each block's attention, MLP and two
# LayerNorms, the final LayerNorm — and remember the tied output layer, and `config.bias`.

# %% tags=["exercise"]
# EXERCISE: count_parameters
def count_parameters(config):
    # Replace the next line with your code (a few lines of arithmetic).
    raise NotImplementedError

# %%
result_count = check("count_parameters", count_parameters)
result_count

# %%
count_parameters = result_count.function
by_kind = {}
for name, p in package_model.named_parameters():     # the tied lm_head.weight is listed once, as wte
    kind = "blocks: " + ".".join(name.split(".")[3:]) if name.startswith("transformer.h.") else name
    by_kind[kind] = by_kind.get(kind, 0) + p.numel()
print(f"(the {cfg.n_layer} blocks are summed)")
for kind, n in by_kind.items():
    print(f"{kind:<32}{n:>9,}")
total = package_model.num_parameters()
print(f"{'total (model.num_parameters())':<32}{total:>9,}")
print(f"{'count_parameters(cfg)':<32}{count_parameters(cfg):>9,}")
n_emb = (V + cfg.block_size) * cfg.n_embd
print(f"embeddings E and P: {n_emb:,} = {100 * n_emb / total:.1f} % of the model; "
      f"the 12·L·C² of the blocks: {12 * cfg.n_layer * cfg.n_embd ** 2:,} = "
      f"{100 * 12 * cfg.n_layer * cfg.n_embd ** 2 / total:.1f} %")
print(f"without tying, the output layer would add V·C = {V * cfg.n_embd:,} parameters")

# %% [markdown]
# The $12\,L\,C^2$ of the blocks dominates — that is the "$12 L d^2$" rule of thumb for transformer
# sizes — and it does so already in this tiny model: the embeddings are only the small share printed
# above, because a character vocabulary is small ($V = 65$). For a word-piece vocabulary of 50,000 the
# embedding table of a small model can be as large as all its blocks together.
#
# ## 6. Choosing the next token: temperature, top-k, top-p
#
# A language model gives a distribution $p_\theta(\cdot \mid x_{\le t})$; **sampling** draws the next
# token from it. Three knobs reshape the distribution first:
#
# - **temperature** $\tau$: sample from $\mathrm{softmax}(z / \tau)$; $\tau < 1$ sharpens, $\tau > 1$
#   flattens, $\tau \to 0$ is greedy (argmax).
# - **top-k**: keep only the $k$ largest logits (set the rest to $-\infty$).
# - **top-p** (nucleus sampling): keep the *smallest* set of most likely tokens whose probabilities add
#   up to at least $p$. Unlike top-k, by its definition the number kept adapts: few tokens when the
#   distribution is peaked, many when it is flat (this section shows only one distribution, so the
#   adaptation itself is not shown here).
#
# Let us look at a real next-character distribution: the bigram model of notebook 01 after the letter
# `h` (its log-probabilities are perfectly good logits).

# %%
counts = bigram_counts(train_ids, V)
bigram_logp = ((counts + 1).float() / (counts + 1).sum(dim=1, keepdim=True)).log()     # (V, V)
z_h = bigram_logp[tok.stoi["h"]]                                                 # logits after 'h'


def top_k_filter_scratch(logits, k):
    kth_largest = torch.topk(logits, k, dim=-1).values[..., -1:]                # (..., 1)
    return logits.masked_fill(logits < kth_largest, float("-inf"))


from lmrl_course.gpt import top_k_filter

print("top-k equals the package's:", torch.equal(top_k_filter_scratch(z_h, 5), top_k_filter(z_h, 5)))
probs = torch.softmax(z_h, dim=-1)
order = probs.argsort(descending=True)[:12]                                      # the 12 most likely
print("most likely after 'h':", [(tok.itos[int(i)], round(probs[i].item(), 3)) for i in order[:8]])

# %% [markdown]
# **Your turn:** write `top_p_filter(logits, p)` for logits of shape (..., V): keep the smallest set of
# most likely tokens whose total probability is at least $p$ (the most likely token is always kept) and
# set the other logits to $-\infty$.

# %% tags=["exercise"]
# EXERCISE: top_p_filter
def top_p_filter(logits, p):
    # Replace the next line with your code (about six lines).
    raise NotImplementedError

# %%
result_top_p = check("top_p_filter", top_p_filter)
result_top_p

# %%
top_p_filter = result_top_p.function
settings = [("τ = 1", z_h), ("τ = 0.5", z_h / 0.5), ("τ = 2", z_h / 2.0),
            ("top-k, k = 5", top_k_filter(z_h, 5)), ("top-p, p = 0.9", top_p_filter(z_h, 0.9))]
fig, axes = plt.subplots(1, len(settings), figsize=(13, 2.6), sharey=True)
for ax, (name, z) in zip(axes, settings):
    p = torch.softmax(z, dim=-1)[order]
    ax.bar([{" ": "␣", "\n": "⏎"}.get(tok.itos[int(i)], tok.itos[int(i)]) for i in order], p.tolist())
    kept = int(torch.isfinite(z).sum())
    ax.set_title(f"{name}\n{kept} tokens possible", fontsize=9)
    ax.tick_params(axis="x", labelsize=7)
axes[0].set_ylabel("probability")
plt.show()

# %% [markdown]
# ## 7. Training
#
# ### One training step
#
# The package trainer `train_lm` repeats one step: draw a batch of random windows (the targets are the
# window shifted by one, notebook 01), compute the loss and its gradient $g = \nabla_\theta \mathcal L$, **clip** the
# gradient's global norm, and take an **AdamW** step. With $t$ the number of the step (1 for the first):
#
# $$g \leftarrow g \cdot \min\Big(1, \frac{c}{\lVert g \rVert + 10^{-6}}\Big) \quad
# (\lVert g \rVert^2 = \text{the sum of } g^2 \text{ over every parameter}; \; c = \texttt{grad\_clip}, \; 0 = \text{off})$$
# $$m \leftarrow \beta_1 m + (1-\beta_1)\, g, \qquad v \leftarrow \beta_2 v + (1-\beta_2)\, g^2, \qquad
# \hat m = \frac{m}{1-\beta_1^t}, \quad \hat v = \frac{v}{1-\beta_2^t}$$
# $$\theta \leftarrow \theta - \mathrm{lr}\,\Big(\frac{\hat m}{\sqrt{\hat v} + 10^{-8}} + \lambda\,\theta\Big)
# \qquad (\lambda = \texttt{weight\_decay} \text{ for every 2-D tensor, } 0 \text{ for biases and LayerNorm gains}).$$
#
# $m$ and $v$ are running averages of the gradient and of its square, one per parameter entry; they start
# at 0, and the bias corrections $1 - \beta^t$ undo the pull towards 0 of the first steps. The weight
# decay is *decoupled* (the "W" of AdamW): it shrinks $\theta$ directly instead of being added to $g$,
# where Adam's division by $\sqrt{\hat v}$ would rescale it.
#
# **Your turn:** write `train_step(params, state, x, y, config, lr, train_cfg)`. `params` is a weights
# dict as above, `state = {"step": t - 1, "m": {name: tensor}, "v": {name: tensor}}` (the number of steps
# taken so far and the two averages, `m` and `v` keyed by the same names as `params`), `x, y` a batch
# (B, T), `train_cfg` a `TrainConfig` (read `weight_decay`, `beta1`, `beta2`, `grad_clip`). Weight decay
# $\lambda$ applies to every 2-D tensor (the matrices and the embeddings $E$, $P$), 0 to the 1-D ones
# (biases, LayerNorm gains). The entries of `params` are plain tensors that do not track gradients: make
# copies with `v.detach().clone().requires_grad_(True)`, compute the loss with your `gpt_forward` on them
# and the gradient with `torch.autograd.grad`. Return `(loss, new_params, new_state)`, where `new_state`
# has the keys `"step"` (`= t`), `"m"` and `"v"`, the last two keyed like `params`.
# The check runs the package's `train_step` (torch's `AdamW` and `clip_grad_norm_`) from the same
# weights and optimiser state, in float64, and compares every parameter and both averages.

# %% tags=["exercise"]
# EXERCISE: train_step
def train_step(params, state, x, y, config, lr, train_cfg):
    # Replace the next line with your code (about twenty lines).
    raise NotImplementedError

# %%
result_train_step = check("train_step", train_step)
result_train_step

# %% [markdown]
# ### A debugging move: overfit one batch
#
# Before a long run, train on **one** small batch over and over. A correct model and training step drive
# the loss on 4 windows far below anything it could reach on real data — it memorises them. If it
# cannot, suspect the model or the step first (or a learning rate far too small). Your `train_step`, 100
# times on the same 4 windows of 32 characters:

# %%
train_step = result_train_step.function
from lmrl_course.lm_trainer import TrainConfig

seed_everything(0)
p = {k: v.clone() for k, v in GPT(cfg).state_dict().items() if k != "lm_head.weight"}   # a fresh model
state = {"step": 0, "m": {k: torch.zeros_like(v) for k, v in p.items()},
         "v": {k: torch.zeros_like(v) for k, v in p.items()}}
x1, y1 = get_batch(train_ids, 32, 4, generator=torch.Generator().manual_seed(1))       # one batch (4, 32)
one_batch_losses = []
for step in range(100):
    loss, p, state = train_step(p, state, x1, y1, cfg, 3e-3, TrainConfig(weight_decay=0.0))
    one_batch_losses.append(float(loss))
print(f"loss on the one batch: step 0 {one_batch_losses[0]:.3f}, step 50 {one_batch_losses[50]:.3f}, "
      f"step 99 {one_batch_losses[-1]:.3f}")

fig, ax = plt.subplots(figsize=(5, 2.8))
ax.plot(one_batch_losses)
ax.axhline(math.log(V), c="k", ls=":", label="ln V (uniform)")
ax.set_xlabel("step on the same batch")
ax.set_ylabel("loss")
ax.legend()
plt.show()

# %% [markdown]
# ### The learning-rate schedule, and choosing the peak
#
# `train_lm` warms the learning rate up linearly over `warmup_iters` steps (Adam's early steps, with
# $v$ still poorly estimated, are thought to be the dangerous ones), then decays it along a cosine to `min_lr`. This is the
# schedule of the run below:

# %%
from lmrl_course.lm_trainer import lr_at, train_lm, evaluate_split
from lmrl_course.paths import ASSETS_DIR, GPT_CHECKPOINT_PATH

train_cfg = TrainConfig(max_iters=300, batch_size=32, block_size=32, learning_rate=3e-3, min_lr=3e-4,
                        warmup_iters=30, eval_interval=50, eval_iters=10, seed=0)
fig, ax = plt.subplots(figsize=(5, 2.6))
ax.plot([lr_at(it, train_cfg) for it in range(train_cfg.max_iters)])
ax.set_xlabel("step")
ax.set_ylabel("learning rate")
ax.set_title(f"warmup {train_cfg.warmup_iters} steps, cosine from {train_cfg.learning_rate:g} to {train_cfg.min_lr:g}",
             fontsize=9)
plt.show()

# %% [markdown]
# The peak learning rate is one of the hyper-parameters that matter most. The standard way to choose it is a
# sweep on a log grid with short runs. The figure below was precomputed
# (`python -m lmrl_course.scripts.make_gpt_craft_assets --only lr_sweep`): this notebook's model and
# schedule, 300 steps per run, two seeds.

# %%
craft = json.loads((ASSETS_DIR / "gpt_training_craft.json").read_text())
sweep = craft["lr_sweep"]
fig, ax = plt.subplots(figsize=(5, 3))
for seed, losses in sweep["val_loss"].items():
    ax.plot(sweep["learning_rates"], losses, "o-", alpha=0.7, label=f"seed {seed}")
ax.set_xscale("log")
ax.set_xlabel("peak learning rate")
ax.set_ylabel(f"val loss after {sweep['config']['iters']} steps")
ax.legend()
plt.show()
print("peak lr   " + "".join(f"{lr:>8g}" for lr in sweep["learning_rates"]))
for seed, losses in sweep["val_loss"].items():
    print(f"seed {seed}    " + "".join(f"{l:>8.3f}" for l in losses))

# %% [markdown]
# Both seeds tell the same story. Both ends of the grid finish higher after 300 steps (2.74–2.76 at
# $3 \cdot 10^{-4}$, 2.91–2.93 at $10^{-1}$); the sweep keeps only final losses, so it does not show
# whether the ends are slow or unstable. The best value is in between, and a factor-of-3 grid locates it
# to within one grid step. Here the lowest loss of both seeds is at
# $3 \cdot 10^{-3}$, the value used below (the sweep's run at that rate with seed 0 *is* the run below: same
# model, seed, batches and schedule; only its validation estimate uses 20 batches instead of 10). The
# best rate depends on the model and the initialisation: a wider model, or one initialised with a
# smaller scale, can have another optimum (not measured here).
#
# ### Training a small GPT
#
# A 2-layer, 64-wide model with a context of 32 characters, 300 steps of 32 windows, with the package
# trainer (its step is the one you just wrote, and checked):

# %%
seed_everything(0)
model = GPT(cfg)
t0 = time.perf_counter()
history = train_lm(model, train_ids, val_ids, train_cfg, progress=True)
gpt_seconds = time.perf_counter() - t0
print(f"took {gpt_seconds:.2f} s")
print(f"{model.num_parameters():,} parameters; last train loss {history['train_loss'][-1]:.3f}, "
      f"val loss {history['val_loss'][-1]:.3f}")

# %%
bigram_val = -bigram_logp[val_ids[:-1], val_ids[1:]].mean().item()
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(history["iter"], history["train_loss"], "o-", label="train (mean over the last 50 steps)")
ax.plot(history["iter"], history["val_loss"], "o-", label="validation (10 batches)")
ax.axhline(bigram_val, c="k", ls="--", label=f"bigram model, validation ({bigram_val:.3f})")
ax.set_xlabel("step")
ax.set_ylabel("cross-entropy (nats/char)")
ax.legend()
plt.show()
first_below = next((it for it, v in zip(history["iter"], history["val_loss"]) if v < bigram_val), None)
print(f"first evaluation below the bigram model: step {first_below}")

# %% [markdown]
# The GPT passes the bigram model by the step printed above and keeps improving. Every row of the table
# below is scored on the **whole** validation split (`evaluate_split` cuts it into windows and averages
# the NLL of every character; the shipped model's figure is the one stored with the checkpoint, computed
# the same way — recomputing it here would take about a minute of evaluation on an idle core, by the
# note stored in `assets/gpt_shakespeare.json`; not timed here):

# %%
from lmrl_course.gpt import load_pretrained

gpt_val = evaluate_split(model, val_ids)
rows = [("uniform over V", math.log(V)), ("bigram (counts, notebook 01)", bigram_val),
        ("small GPT, trained above", gpt_val)]
shipped_report = json.loads(GPT_CHECKPOINT_PATH.with_suffix(".json").read_text())
rows.append((f"shipped GPT ({shipped_report['num_parameters']:,} params)", shipped_report["metrics"]["val_loss"]))
print(f"{'model':<34}{'val NLL':>8}{'perplexity':>11}{'bits/char':>10}")
for name, nll in rows:
    print(f"{name:<34}{nll:>8.3f}{math.exp(nll):>11.2f}{nll / math.log(2):>10.3f}")
sc = shipped_report["model_config"]
st = shipped_report["train_config"]
print(f"shipped: {sc['n_layer']} layers, C = {sc['n_embd']}, context {sc['block_size']}, "
      f"{st['max_iters']:,} steps of {st['batch_size']} windows")
# %% [markdown]
# ### What a training step costs: 6·|θ| FLOPs per token
#
# A forward pass costs about $2|\theta|$ floating-point operations per token for a model with $|\theta|$
# parameters (each weight is used in one multiply and one add), the backward pass twice that:
# **$6|\theta|$ FLOPs per token** for training (Kaplan et al., 2020, write it $6N$ with $N$ the
# non-embedding parameters; we count every parameter, which here includes the tied output matrix $E$
# and, slightly over-counting, the position table $P$, which is only added; they derive an extra
# $6\,L\,T\,C$ for the attention scores, which have no parameters, and then neglect it; we add it below). Multiplied by the measured tokens per second it gives the arithmetic speed the
# training actually reached:

# %% tags=["nbval-ignore-output"]
N_params = model.num_parameters()
tokens_per_s = sum(history["tokens_per_s"]) / len(history["tokens_per_s"])
flops_per_token = 6 * N_params + 6 * cfg.n_layer * train_cfg.block_size * cfg.n_embd
print(f"6·|θ| = {6 * N_params:,} FLOPs per token, + 6·L·T·C = {6 * cfg.n_layer * train_cfg.block_size * cfg.n_embd:,} "
      f"for attention = {flops_per_token:,}")
print(f"measured: {tokens_per_s:,.0f} tokens/s on one CPU thread -> "
      f"{flops_per_token * tokens_per_s / 1e9:.2f} GFLOP/s achieved")
a, b = torch.randn(512, 512), torch.randn(512, 512)
t0 = time.perf_counter()
for _ in range(20):
    a @ b
matmul_gflops = 20 * 2 * 512 ** 3 / (time.perf_counter() - t0) / 1e9
print(f"one large matmul on the same thread: {matmul_gflops:.1f} GFLOP/s")

# %% [markdown]
# In this one measurement the training reaches less than one large matrix product does on the same
# thread (the two lines above; the exact figures vary with the machine and its load). The gap probably
# goes to small operations — LayerNorms, the softmax, the optimiser's per-tensor updates, Python
# overhead — where the FLOP count says little (not profiled here). For large models, where the matmuls
# dominate, the FLOP count should describe the work better (not measured here): then "$6|\theta|$ per
# token" lets you predict the FLOPs of a run (tokens × $6|\theta|$) before starting it, and its time once
# you know the FLOP/s the hardware actually sustains on it (dividing by its peak gives only a lower
# bound on the time).
#
# ### A lesson about initialisation scale
#
# Every Linear weight starts random; the question is how large. A matmul $q = W u$ with $u$ of unit
# variance (what LayerNorm delivers) and $W_{ij} \sim \mathcal N(0, \sigma^2)$ gives entries of variance
# $\mathrm{fan\_in} \cdot \sigma^2$. GPT-2 used $\sigma = 0.02$ for every width; $\sigma = 1/\sqrt{\mathrm{fan\_in}}$
# keeps the variance at 1 whatever the width. That choice applies to `c_attn` and `mlp.c_fc`; the two
# projections that write into the residual stream (`attn.c_proj`, `mlp.c_proj`) start at
# $0.02/\sqrt{2L}$ under both settings, and the embeddings at 0.02. Measured on the first block of a fresh model:

# %%
seed_everything(0)
for C in (64, 128):
    for std in (0.02, None):
        m = GPT(GPTConfig(vocab_size=V, block_size=32, n_layer=2, n_head=4, n_embd=C, init_std=std))
        with torch.no_grad():
            u = F.layer_norm(torch.randn(8, 32, C), (C,))                     # unit-variance input (B, T, C)
            q, k = F.linear(u, m.transformer.h[0].attn.c_attn.weight[:2 * C]).split(C, dim=-1)   # (B, T, C)
            hs = C // 4
            scores = q[..., :hs] @ k[..., :hs].transpose(1, 2) / math.sqrt(hs)    # head 0: (B, T, T)
        label = "1/sqrt(fan_in)" if std is None else str(std)
        print(f"C = {C:>3}, init_std {label:<15} var(q) = {q.var():.3f} (C·σ² = {C * (std or C ** -0.5) ** 2:.3f}), "
              f"std of the attention scores {scores.std():.3f}")

# %% [markdown]
# With $\sigma = 0.02$ at $C = 128$ the queries and keys have variance 0.05 instead of 1, so the attention
# scores $q \cdot k / \sqrt{d_k}$ have a standard deviation of about 0.05 (printed above) and the softmax of
# such scores is nearly uniform: every head starts out reading a plain average of the past, and training
# has to grow the weights before attention can select anything. The
# package's default is therefore `init_std=None` ($1/\sqrt{\mathrm{fan\_in}}$); `init_std=0.02` reproduces
# GPT-2 (and nanoGPT), and the shipped checkpoint was trained with 0.02 (the only init the code had then;
# recorded in `assets/gpt_shakespeare.json`). The effect on learning, precomputed
# by the same script on the benchmark model of `bench/bench_gpt_train.py` (4 layers, $C = 128$, context
# 64, batch 12), with that bench's earlier recipe (its `BASELINE_RECIPE`: lr $10^{-3}$) and learned
# positions, two seeds each:

# %%
init = craft["init_scale"]
fig, ax = plt.subplots(figsize=(6, 3.2))
for (name, runs), color in zip(init["runs"].items(), ("C1", "C0")):
    for i, (seed, run) in enumerate(runs.items()):
        ax.plot(run["iter"], run["val_loss"], "o-", c=color, alpha=0.7, ms=3,
                label=f"init_std = {name}" if i == 0 else None)
ax.set_xlabel("step")
ax.set_ylabel("val loss (20 batches)")
ax.set_title("4 layers, C = 128: the same model, two initialisation scales", fontsize=9)
ax.legend()
plt.show()
for name, runs in init["runs"].items():
    finals = [run["val_loss"][-1] for run in runs.values()]
    print(f"init_std = {name:<15} val loss at step {init['config']['iters']}: " +
          ", ".join(f"{v:.3f}" for v in finals) + f"  (seeds {', '.join(runs)})")

# %% [markdown]
# At step 100 the two initialisations are level; from step 200 on, on both seeds, the model initialised
# with $1/\sqrt{\mathrm{fan\_in}}$ is lower at every evaluation. At lr $10^{-3}$, on both seeds, it ends
# about 0.2 lower (the printed values), much more than the spread between the two seeds, with the same
# schedule and batches: only the scale of the random numbers at step 0 differs. A likely reason is that
# $\sigma = 0.02$ starts with near-uniform attention (scores' std 0.05, measured above) and with MLP
# inputs just as small (`mlp.c_fc` has the same fan-in $C$, so by the formula above its outputs have
# variance $C\sigma^2 \approx 0.05$, not printed, where the GELU is nearly linear), and must grow those
# weights first. We did not measure which of the two matters, nor the weights during training, nor tune
# the learning rate separately for each initialisation. (GPT-2's 0.02 is not wrong for GPT-2: at $C = 768$, $1/\sqrt{C} = 0.036$, much
# closer.) A loaded checkpoint is not affected by the default: it brings its own weights, and its config records the
# `init_std` it was trained with.
#
# %% [markdown]
# ### Dropout and the gap between train and validation loss
#
# A model that has seen its training text many times starts to **memorise** it: its loss on the
# training data keeps falling while the loss on text it has never seen stalls or rises. The gap
# val − train is the measure of it. **Dropout** (`GPTConfig(dropout=p)`) is the classic remedy: during
# training every dropout layer sets each entry of its input to 0 with probability $p$ and scales the
# others by $1/(1-p)$, so the network cannot rely on any single unit; in eval mode (`model.eval()`) it does
# nothing. The package applies it to the embeddings, the attention weights, and the outputs of the
# attention and the MLP.
#
# The run above reads 300 × 32 × 32 ≈ 307k characters, under a third of the 1M-character training
# split, and the gap is at most a few hundredths (train 2.215, the mean over its last 50 steps; val
# 2.212): nothing for dropout to close. To see
# overfitting on a CPU we make the data small instead: the same small GPT and schedule shape, trained for
# 2,000 steps on **5 % of the training split** (10 evenly spaced pieces, 50k characters, each read about
# 41 times: printed below), with dropout 0, 0.1 and 0.2, two seeds each. Both losses are measured in
# eval mode (no dropout), on the same 20 batches of each split at every evaluation. Precomputed by
# `python -m lmrl_course.scripts.make_gpt_craft_assets --only dropout`:

# %%
drop = craft["dropout"]
dcfg = drop["train_config"]
print(f"{drop['train_tokens']:,} training characters, each read about "
      f"{dcfg['max_iters'] * dcfg['batch_size'] * dcfg['block_size'] / drop['train_tokens']:.0f} times in "
      f"{dcfg['max_iters']:,} steps")
fig, axes = plt.subplots(1, 2, figsize=(10, 3.3), sharey=True)
for p, color in zip(drop["dropouts"], ("C3", "C0", "C2")):
    runs = drop["runs"][str(p)]
    for ax, key in zip(axes, ("train_loss", "val_loss")):
        curves = torch.tensor([run[key] for run in runs])                    # (seeds, evaluations)
        ax.plot(runs[0]["iter"], curves.mean(0), c=color, label=f"dropout {p}")
        ax.fill_between(runs[0]["iter"], curves.min(0).values, curves.max(0).values, color=color, alpha=0.25)
for ax, title in zip(axes, ("training subset (5 % of the training split)", "validation split")):
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("step")
axes[0].set_ylabel("loss in eval mode (20 batches)")
axes[0].set_ylim(1.2, 2.6)
axes[1].legend(title=f"mean, min-max band over {len(drop['seeds'])} seeds", fontsize=8, title_fontsize=8)
plt.show()

print(f"{'dropout':<9}{'train NLL':<23}{'val NLL':<23}{'gap val - train':<23}lowest val (step)")
for p in drop["dropouts"]:
    runs = drop["runs"][str(p)]
    cols = [[run["train_nll"] for run in runs], [run["val_nll"] for run in runs],
            [run["val_nll"] - run["train_nll"] for run in runs]]
    mean_val = torch.tensor([run["val_loss"] for run in runs]).mean(0)     # the mean validation curve
    low = int(mean_val.argmin())
    print(f"{p:<9}" + "".join(f"{sum(c) / len(c):.3f} [{min(c):.3f}, {max(c):.3f}]  " for c in cols)
          + f"{mean_val[low]:.3f} ({runs[0]['iter'][low]})")
print(f"train and val NLL: the whole subset and the whole validation split at step {drop['train_config']['max_iters']}, "
      f"mean [min, max] over seeds {drop['seeds']}; lowest val: of the mean curve above")
print(f"precomputed on {drop['machine']} ({drop['cpus']} CPUs), {drop['torch_threads']} torch thread per run, "
      f"{drop['cpu_seconds'] / 60:.1f} CPU-minutes for the {len(drop['dropouts']) * len(drop['seeds'])} runs")

# %% [markdown]
# **Without dropout the model memorises its training text.** Its loss on the 50k characters it trains
# on falls to about 1.3 by step 2,000, while its validation loss is lowest between steps 1,000 and 1,250
# (the last column of the table gives the lowest point of the mean curve, 1.988 at step 1,250; in the
# stored runs seed 0 is lowest at 1,000 with 1.99, seed 1 at 1,250 with 1.97). It then *rises* on both
# seeds, to 2.03–2.05 at step 2,000 (right panel): the textbook picture of overfitting. At the end the gap val − train is 0.74 to 0.78 on the two seeds.
#
# **Dropout 0.1 trades training loss for validation loss.** On both seeds it ends with a higher loss on
# the training text (1.63 to 1.64) and a lower validation loss (1.91 to 1.92) than no dropout, its gap
# is 0.28, and its validation curve is still falling at step 2,000. **Dropout 0.2 narrows the gap further
# (0.16 to 0.18) but does not reliably lower the validation loss**: its two seeds end at 2.022 and 2.066,
# one below and one above the 2.036 to 2.041 of no dropout (mean 2.044 against 2.038). It
# slows learning so much that its training loss is still 1.85 to 1.91 at the end and both its curves are
# still falling. So a small gap is not the goal; a low validation loss is, and here $p = 0.1$ was the best
# of the three. This is two seeds, one subset and one budget: a longer run could move the best $p$.
# Where the data are plentiful next to the training, as in the 300-step run on the whole split above,
# the gap is at most a few hundredths, so there is little for dropout to close (that run was not
# repeated with dropout here).
#
# %% [markdown]
# ### And a recurrent network?
#
# Many popular write-ups of character-level language modelling use a recurrent network instead: an
# LSTM or a GRU reads the characters one at a time and carries a hidden state $h_t$ that has to
# summarise everything read so far,
#
# $$h_t = \mathrm{cell}(h_{t-1}, E[x_t]), \qquad z_t = W h_t + b, \qquad h_0 = 0,$$
#
# where the cell is a GRU (three gate blocks) or an LSTM (four gate blocks and a second state $c_t$,
# the cell you wrote in notebook 02b). The order of the updates tells it where it is, so it needs no
# position embedding. Below, a one-layer GRU (hidden width 144) and a one-layer LSTM (hidden width 122:
# four gate blocks instead of three, so a narrower state gives about the same parameter count), both
# from `lmrl_course.rnn`, are trained by the same `train_lm` as the small GPT, with the same seed, on the
# same batches, for the same 300 steps at the same learning rate, and scored the same way (windows of 32
# characters, $h_0 = 0$ in each).

# %%
from lmrl_course.rnn import CharGRU, CharLSTM

live = {"GPT (2 layers, C = 64)": (model, history, gpt_seconds)}
for name, make in (("GRU (hidden 144)", CharGRU), ("LSTM (hidden 122)", CharLSTM)):
    seed_everything(0)
    rnn = make(V)
    t0 = time.perf_counter()
    rnn_history = train_lm(rnn, train_ids, val_ids, train_cfg, progress=True)
    live[name] = (rnn, rnn_history, time.perf_counter() - t0)
print("training, 300 steps each: " + ", ".join(f"{name.split()[0]} took {secs:.2f} s"
                                               for name, (_, _, secs) in live.items()))

print(f"\n{'model':<24}{'parameters':>11}{'val NLL':>9}")
for name, (m, _, _) in live.items():
    val = gpt_val if m is model else evaluate_split(m, val_ids, block_size=train_cfg.block_size)
    print(f"{name:<24}{sum(p.numel() for p in m.parameters()):>11,}{val:>9.3f}")

# %%
fig, ax = plt.subplots(figsize=(6, 3.4))
for (name, (_, hist, _)), marker in zip(live.items(), "o^s"):
    ax.plot(hist["iter"], hist["val_loss"], marker + "-", ms=4, label=name)
ax.axhline(bigram_val, c="k", ls="--", label="bigram model")
ax.set_xlabel("step")
ax.set_ylabel("validation cross-entropy (nats/char)")
ax.set_title("same size, batches, budget and learning rate; one run (seed 0)", fontsize=9)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# **Both recurrent networks beat the small GPT here, and the GRU beats the LSTM** (the whole-split
# validation NLL in the table; the curves are estimates on 10 validation batches). This is one run,
# one seed, at this budget and at the learning rate the sweep chose for the GPT; neither recurrent
# network had its learning rate tuned, so the order of the GRU and the LSTM says little about the two
# cells in general. Notebook 02b ran these models on three seeds at another learning rate ($10^{-2}$)
# and 400 steps, with the GPT initialised at $\sigma = 0.02$ (the older default, which section 7 shows
# learning slower on a 4-layer, $C = 128$ model). There the GRU beat the LSTM, and both beat that GPT, on
# every seed. The GPT of this notebook ($1/\sqrt{\mathrm{fan\_in}}$) was not repeated there. The training times are printed above; they
# depend on the machine and its load. Our reading, not tested here: with about 100k parameters, 300
# steps and 32 characters of context, a recurrent state is a strong prior for text read left to right.
# What attention buys is not a lower loss at this budget:
#
# - **Training in parallel over the sequence.** The GPT computes all T positions of a window with a few
#   large matrix products; a recurrent cell cannot start $h_t$ before $h_{t-1}$ is done. This advantage
#   is not visible here: at $T = 32$ on one CPU thread the printed times put the LSTM first, and they
#   are single timings on a shared, loaded machine, so they rank nothing. The benefit is expected on
#   GPUs with long sequences, where it decides how much of the hardware a model can use; this notebook
#   does not measure it.
# - **Direct access to the past.** Position t reads any earlier position through one attention weight;
#   the GRU has to carry everything it may need later through 144 numbers (the LSTM through 2 × 122),
#   step after step.
# - **Scale.** A much larger GPT trained far longer (the shipped one: 17× the parameters, 4× the context,
#   about 20× the training tokens; 1.553 in the table above) is far below all three. This notebook does
#   not scale a recurrent network, so it shows what size and training buy, not that transformers scale
#   better; that claim comes from the literature (Kaplan et al. 2020).
#
# "Transformers beat RNNs" is a statement about a budget; a small one can show the opposite.
#
# %% [markdown]
# ## 8. Generating text
#
# Generation is a loop: feed the last `block_size` tokens, take the logits of the **last** position,
# reshape them (temperature, then top-k, then top-p), sample one token, append it, repeat.
#
# **Your turn:** write `generate(params, config, idx, max_new_tokens, temperature=1.0, top_k=None,
# top_p=None, seed=0)`: `idx` (B, T0) is the prompt; return (B, T0 + max_new_tokens), the prompt
# included. Use your `gpt_forward`, the package's `top_k_filter` (imported in section 6) and your
# `top_p_filter`; `temperature=0` means greedy (the argmax). So that the same seed gives the same text
# as the package's `GPT.generate`, make one `generator = torch.Generator().manual_seed(seed)` before the
# loop and draw with `torch.multinomial(probs, 1, generator=generator)`. The model was trained on
# windows of at most `config.block_size` tokens and has no position embedding beyond: **crop** the
# context to the last `block_size` tokens (the check has a prompt that outgrows it).

# %% tags=["exercise"]
# EXERCISE: generate
def generate(params, config, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, seed=0):
    # Replace the next line with your code (about twelve lines).
    raise NotImplementedError

# %%
result_generate = check("generate", generate)
result_generate

# %% [markdown]
# Your loop with the weights of the model trained above, next to the package's `GPT.generate` with the
# same seed:

# %%
generate = result_generate.function
trained = {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}
prompt = torch.tensor([tok.encode("ROMEO:\n")])
ours = generate(trained, cfg, prompt, 200, temperature=0.8, top_k=20, seed=0)
theirs = model.generate(prompt, 200, temperature=0.8, top_k=20, generator=torch.Generator().manual_seed(0))
print("same tokens as model.generate:", torch.equal(ours, theirs))
print(tok.decode(ours[0]))

# %% [markdown]
# Without the cropping the model would be asked about position 32 of a 32-position embedding. The
# package refuses such an input with a message instead of an index error deep inside:

# %%
too_long = torch.zeros(1, cfg.block_size + 1, dtype=torch.long)
try:
    model(too_long)
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# ### Why generation needs a key/value cache
#
# The loop above recomputes the whole window for every new token, although only the last position's
# logits are used, and the keys and values of the earlier positions are the same as one step before
# (causality: position $t$ never depends on later tokens — and, with absolute positions, only while the
# text fits in `block_size`; once the window slides, every position gets a new position vector). A **key/value cache** keeps each layer's
# $k$ and $v$ of the positions already read; each step then feeds only the new token, computes its
# query, key and value, appends them to the cache and attends over it: one position of work per step
# instead of a whole window. The RLHF part of the course samples this way
# (`lmrl_course.rlhf.rollout.sample_responses`). The two samplers on the shipped model, 120 characters
# from the same seed:

# %% tags=["nbval-ignore-output"]
from lmrl_course.rlhf.rollout import sample_responses

shipped, _ = load_pretrained(device="cpu")
kv_prompt = torch.tensor([tok.encode("ROMEO:\n")])                              # (1, 7)
t0 = time.perf_counter()
no_cache = shipped.generate(kv_prompt, 120, generator=torch.Generator().manual_seed(0))
t_no_cache = time.perf_counter() - t0
t0 = time.perf_counter()
with_cache = sample_responses(shipped, kv_prompt, 120, generator=torch.Generator().manual_seed(0))
print(f"one sequence of 120 characters; positions computed: {sum(min(7 + t, 128) for t in range(120)):,} "
      f"without the cache, {7 + 119} with it")
t_cache = time.perf_counter() - t0
print(f"without a cache: took {t_no_cache:.2f} s;  with the KV cache: took {t_cache:.2f} s;  "
      f"speed-up {t_no_cache / t_cache:.1f}x")
print("same tokens:", torch.equal(no_cache[:, kv_prompt.shape[1]:], with_cache.response))

# %% [markdown]
# Same tokens, several times faster (the factor printed above depends on the machine and its load; this
# cell's output is not compared when the notebook is tested). The cache computes far fewer positions
# (the first line: 7,980 against 126, a ratio of 63), but the speed-up is smaller than that ratio. Part
# of the shortfall is probably per-step overhead that the cache does not remove: the Python loop, the
# sampling, a few small matrix products per layer (not profiled here). Up to `block_size` (128 here) the
# gap should widen with the length, since without a cache step $t$ recomputes every position so far;
# only 120 characters were timed here.
#
# %% [markdown]
# ## Play: sample from the shipped GPT
#
# The widget samples from the course's shipped checkpoint (trained longer than the model above; if the
# checkpoint is missing it falls back to the model you just trained). The same seed gives the same
# text. Try temperature 0.1 and 1.5 (you should see repetitive, "safe" text and inventive spelling,
# respectively; only the sample at 0.8 is stored below), top-k = 1 (greedy), and top-p = 0.5 against
# top-p = 1.

# %%
import ipywidgets as widgets

if GPT_CHECKPOINT_PATH.exists():
    play_model, play_tok = load_pretrained(device="cpu")
    source = "the shipped checkpoint"
else:
    play_model, play_tok = model, tok
    source = "the model trained above (no checkpoint found)"


class SampleWidget(widgets.VBox):
    """Sliders and a Generate button; the sample is written into a Textarea (no printing)."""

    def __init__(self, model, tok, source):
        self.model, self.tok = model, tok
        style = {"description_width": "90px"}
        self.prompt = widgets.Text(value="ROMEO:\n", description="prompt", style=style)
        self.temperature = widgets.FloatSlider(value=0.8, min=0.05, max=2.0, step=0.05, description="temperature", style=style)
        self.top_k = widgets.IntSlider(value=0, min=0, max=tok.vocab_size, description="top-k (0=off)", style=style)
        self.top_p = widgets.FloatSlider(value=1.0, min=0.05, max=1.0, step=0.05, description="top-p", style=style)
        self.length = widgets.IntSlider(value=300, min=20, max=1000, step=20, description="characters", style=style)
        self.seed = widgets.IntText(value=0, description="seed", style=style)
        self.button = widgets.Button(description="Generate", button_style="primary")
        self.text = widgets.Textarea(layout=widgets.Layout(width="95%", height="260px"))
        self.button.on_click(self.generate)
        super().__init__([widgets.HTML(f"<b>Sampling from {source}</b>"), self.prompt, self.temperature,
                          self.top_k, self.top_p, self.length, self.seed, self.button, self.text])
        self.generate()

    def generate(self, _button=None):
        prompt = "".join(c for c in self.prompt.value if c in self.tok.stoi) or "\n"
        idx = torch.tensor([self.tok.encode(prompt)])[:, -self.model.config.block_size:]
        out = self.model.generate(idx, self.length.value, temperature=self.temperature.value,
                                  top_k=self.top_k.value or None, top_p=self.top_p.value,
                                  generator=torch.Generator().manual_seed(self.seed.value))
        self.text.value = self.tok.decode(out[0])

    def __repr__(self):
        return (f"SampleWidget(temperature={self.temperature.value:.2f}, top_k={self.top_k.value}, "
                f"top_p={self.top_p.value:.2f}, seed={self.seed.value})\n{self.text.value[:160]}")


SampleWidget(play_model, play_tok, source)

# %% [markdown]
# ## 9. Where positions come from: learned, sinusoidal, rotary
#
# Unmasked attention is blind to order: permute the tokens and every output is permuted the same way.
# The causal mask gives some order information, but no explicit position; the GPT here adds a **learned**
# position vector $P[t]$ to each token embedding: simple, and the choice of GPT-2 and nanoGPT (this
# notebook does not compare it with the alternatives in training), but it cannot say anything about
# position $T_{\max}$ and beyond, which it never saw. Two alternatives:
#
# - **Sinusoidal** (the 2017 Transformer): $P[t, 2i] = \sin(t / 10000^{2i/C})$,
#   $P[t, 2i+1] = \cos(t / 10000^{2i/C})$ — fixed, no parameters, one frequency per pair of channels.
#   Each pair is a clock hand turning at its own speed, so $P[t + k]$ is a fixed rotation of $P[t]$.
# - **Rotary (RoPE**, used by most open LLMs today): instead of adding anything to the stream, rotate
#   each pair of channels of $q_t$ and $k_s$ by the angle $t\,\omega_i$ (resp. $s\,\omega_i$) just before the
#   dot product. The score $q_t \cdot k_s$ then depends only on the offset $t - s$: attention sees
#   relative positions directly.
#
# Both in a few lines; the last line checks that the rotary score depends only on the offset:

# %%
def sinusoidal_positions(T, C):
    t = torch.arange(T, dtype=torch.float32)[:, None]                        # (T, 1)
    omega = 10000.0 ** (-torch.arange(0, C, 2, dtype=torch.float32) / C)     # (C/2,) one frequency per pair
    P = torch.zeros(T, C)
    P[:, 0::2], P[:, 1::2] = torch.sin(t * omega), torch.cos(t * omega)
    return P                                                                 # (T, C)


def rotate(x, t):
    """RoPE: rotate channel pairs (2i, 2i+1) of x (..., C) by the angles t·ω_i."""
    C = x.shape[-1]
    omega = 10000.0 ** (-torch.arange(0, C, 2, dtype=torch.float32) / C)
    cos, sin = torch.cos(t * omega), torch.sin(t * omega)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)


seed_everything(3)
q, k = torch.randn(16), torch.randn(16)
print("rotary score q_t·k_s for (t, s) = (5, 3), (12, 10), (40, 38):",
      [round(float(rotate(q, t) @ rotate(k, s)), 4) for t, s in [(5, 3), (12, 10), (40, 38)]])
print("and for offsets 2, 5, 9 from t = 12:", [round(float(rotate(q, 12) @ rotate(k, 12 - d)), 4) for d in (2, 5, 9)])

P_sin = sinusoidal_positions(128, 192)
P_learned = shipped.transformer.wpe.weight.detach()                          # (128, 192) of the shipped GPT
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
for ax, (name, P) in zip(axes, [("sinusoidal", P_sin), ("learned (shipped GPT)", P_learned)]):
    Pn = F.normalize(P, dim=-1)
    sim = Pn @ Pn.T                                                          # (128, 128) cosine similarities
    print(f"{name:<22} mean cosine similarity of P[t] and P[t + d]: " +
          ", ".join(f"d = {d}: {sim.diagonal(d).mean():+.2f}" for d in (1, 4, 16, 64, 120)))
    im = ax.imshow(sim.numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_title(f"{name}: cos(P[t], P[s])", fontsize=9)
    ax.set_xlabel("s")
    ax.set_ylabel("t")
fig.colorbar(im, ax=axes, shrink=0.8)
print(f"the learned table P of the shipped GPT: {P_learned.numel():,} parameters")
plt.show()

# %% [markdown]
# The same offset gives the same rotary score, wherever it sits (first line), and different offsets give
# different scores (second line). In both similarity maps nearby positions are more alike than distant
# ones (the printed means fall with the distance d); the learned table of the shipped model is noisier:
# its positions 64 apart are nearly uncorrelated (mean cosine −0.03), and the 8 pairs 120 apart have
# mean cosine −0.29. What changes if you swap one for another: sinusoidal and rotary encodings have no parameters
# ($T_{\max} \cdot C$ fewer: the number printed above for the shipped model) and are defined at every position, so a model
# can at least be *run* on longer texts than it was trained on (rotary models extend well with some
# tricks; nothing extrapolates for free).
#
# The package has rotary positions as an option: `GPTConfig(..., pos_encoding="rope")` builds the same GPT
# without the table $P$, and every attention layer rotates its queries and keys by their position
# (`lmrl_course.attention.apply_rotary`, checked in `tests/test_rope.py` against the complex-number
# rotation $z_i e^{i t \theta_i}$). `python bench/bench_gpt_train.py --pos-encoding learned` and
# `--pos-encoding rope` train the two side by side on the same budget; the bench prints what each reaches.
#
# %% [markdown]
# ## 10. Causality, tested — and what happens without the mask
#
# During training every position predicts its next token in parallel, so the model must not be able to
# read ahead. The direct test: change one token and check which logits move. Only positions at and
# after the change may move.

# %%
x = torch.tensor([tok.encode("ROMEO:\nBut soft, what light thr")])           # (1, 31)
x_changed = x.clone()
x_changed[0, 20] = tok.stoi["X"]                                            # change position 20
with torch.no_grad():
    change = (model(x)[0] - model(x_changed)[0]).abs().amax(dim=-1)[0]      # (T,)
print("positions 0-19, max change of the logits:", f"{change[:20].max().item():.1e}")
print("positions 20-30:", [round(c, 2) for c in change[20:].tolist()])

# %% [markdown]
# Now remove the mask: `GPTConfig(causal=False)` lets every position attend to the whole window —
# including $x_{t+1}$, the very token it is asked to predict. Train it with the same settings, but a
# 150-step schedule:

# %%
seed_everything(0)
cheater = GPT(GPTConfig(vocab_size=V, block_size=32, n_layer=2, n_head=4, n_embd=64, causal=False))
cheat_cfg = TrainConfig(**{**train_cfg.to_dict(), "max_iters": 150})           # a shorter run: 150 steps
t0 = time.perf_counter()
history_cheat = train_lm(cheater, train_ids, val_ids, cheat_cfg, progress=True)
print(f"took {time.perf_counter() - t0:.2f} s")

fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(history["iter"], history["train_loss"], "o-", label="causal GPT, train")
ax.plot(history_cheat["iter"], history_cheat["train_loss"], "o-", label="causal=False, train")
ax.axhline(bigram_val, c="k", ls="--", label="bigram model")
ax.set_xlabel("step")
ax.set_ylabel("cross-entropy (nats/char)")
ax.legend()
plt.show()

with torch.no_grad():
    change = (cheater(x)[0] - cheater(x_changed)[0]).abs().amax(dim=-1)[0]
print("no mask: change of the logits at positions 0-19 when token 20 changes:",
      [round(c, 2) for c in change[:20].tolist()])
print(f"train loss at step 150: causal {history['train_loss'][history['iter'].index(150)]:.3f}, "
      f"no mask {history_cheat['train_loss'][-1]:.3f}")
print("-" * 40)
print(tok.decode(cheater.generate(prompt, 150, generator=torch.Generator().manual_seed(0))[0]))

# %% [markdown]
# The loss of the unmasked model falls far below anything the causal model reaches, because it learned
# to **copy the next character** from its input. At generation time the next character does not exist
# yet, so the trick has nothing to copy, and the samples are garbage. A training loss that looks
# "too good" is the classic symptom of a leak.
#
# > **Common mistake: building a "GPT" from `nn.Transformer`.**
# > `nn.Transformer` is the *encoder–decoder* of the 2017 translation paper: an encoder reads a source
# > sentence with **no** mask, and a decoder reads the target while cross-attending to the *whole*
# > encoded source. Using it as a language model with `src = tgt = the text` leaks the future through
# > the encoder, whatever mask you give the decoder. Its `forward(src, tgt, src_mask, tgt_mask, ...)`
# > takes the masks positionally in an easy-to-swap order, and its boolean masks mean **True = blocked**,
# > the opposite of `F.scaled_dot_product_attention` and of `causal_mask`. Each variant runs below on the
# > leak test of section 10 (change the last token, measure how much positions 0..T−2 change), next to the
# > decoder-only GPT:

# %%
from lmrl_course.attention import causal_mask


class TransformerLM(nn.Module):
    """The mistake: an encoder-decoder used as a language model, src = tgt = the text."""

    def __init__(self, V, block_size, C, n_head):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(block_size, C)
        self.transformer = nn.Transformer(d_model=C, nhead=n_head, num_encoder_layers=1, num_decoder_layers=1,
                                          dim_feedforward=4 * C, dropout=0.0, batch_first=True)
        self.lm_head = nn.Linear(C, V)

    def forward(self, idx, *masks, **named_masks):
        h = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        return self.lm_head(self.transformer(h, h, *masks, **named_masks))


seed_everything(0)
T = 16
tlm = TransformerLM(V, T, 64, 4).eval()
gpt_small = GPT(GPTConfig(V, block_size=T, n_layer=1, n_head=4, n_embd=64)).eval()   # same size, decoder-only
float_causal = nn.Transformer.generate_square_subsequent_mask(T)    # 0 on/below the diagonal, -inf above
bool_causal = causal_mask(T)                                        # True = may attend (course convention)
x = torch.tensor([tok.encode("ROMEO:\nBut soft,")])                 # (1, 16)
x_changed = x.clone()
x_changed[0, -1] = tok.stoi["X"]


def leak(fn):
    with torch.no_grad():
        return (fn(x) - fn(x_changed))[0, :-1].abs().max().item()


variants = [
    ("nn.Transformer(src, tgt), no masks", lambda i: tlm(i)),
    ("nn.Transformer(src, tgt, mask): mask lands in src_mask", lambda i: tlm(i, float_causal)),
    ("tgt_mask=causal: the encoder still sees all", lambda i: tlm(i, tgt_mask=float_causal)),
    ("tgt_mask=causal_mask(T): True means BLOCKED here", lambda i: tlm(i, tgt_mask=bool_causal)),
    ("src_mask, tgt_mask AND memory_mask all causal", lambda i: tlm(i, src_mask=float_causal, tgt_mask=float_causal,
                                                                     memory_mask=float_causal)),
    ("decoder-only GPT (the package's, causal)", lambda i: gpt_small(i)[0]),
]
for name, fn in variants:
    print(f"{name:<54} change before the last token: {leak(fn):.3f}")

# %% [markdown]
# Every `nn.Transformer` variant but the last reads the future. The last one is causal, but only by
# masking *three* attention modules (encoder self-attention, decoder self-attention, cross-attention)
# of an architecture built for a different problem, where the GPT of the same depth has one. A GPT is the
# decoder alone, with no cross-attention: one causal self-attention per block, as in section 1.
#
#
# %% [markdown]
# ## Beyond the laptop
#
# Everything here runs on one CPU thread. When you outgrow it — a wider model, a longer context, a larger
# corpus — the same `train_lm` trains data-parallel on several processes or GPUs: each process holds the
# whole model, trains on its own batches, and the gradients are averaged before every AdamW step, so the
# copies stay equal. The README's **"Scaling up"** section shows the `torchrun` commands (one machine with
# 2 CPU processes, every GPU of a machine, several machines) and how the training script joins the
# process group.
#
# ## Check yourself
#
# - Write the three equations of a GPT (embedding, block, output). Where do positions exchange information?
# - Why does every block *add* to the residual stream instead of replacing it?
# - Why does LayerNorm use the biased variance, and where does $\varepsilon$ go?
# - What does weight tying share, and how many parameters does it save here?
# - Why does the number of heads not change the parameter count?
# - What should the loss be at step 0, and what does it mean if it is much higher?
# - Why does AdamW correct $m$ and $v$ by $1 - \beta^t$, and why is its weight decay "decoupled"?
# - What does overfitting one batch test? What does a learning-rate sweep show at both ends of the grid?
# - At $C = 128$, what does $\sigma = 0.02$ do to the attention scores at step 0, and why might that make it
#   learn slower than $1/\sqrt{\mathrm{fan\_in}}$ at the same learning rate? What was not measured?
# - How many FLOPs does training on one token cost, roughly?
# - How do temperature, top-k and top-p change the next-token distribution? Which one adapts to the
#   model's confidence?
# - What does a KV cache store, and why is it allowed (what property of the model makes it exact, and
#   until when, with absolute position embeddings)?
# - What does a rotary encoding make the attention score depend on?
# - On a training set read about 41 times, what happens to the gap between train and validation loss,
#   and what did dropout change, measured on both losses?
# - At this notebook's budget a GRU and an LSTM of the same size are compared with the small GPT. What
#   does attention buy?
# - What is the leak test, and what does a model without the causal mask learn instead of language?
# - Why is `nn.Transformer(src=text, tgt=text)` not a language model?
#
# **Next:** the GPT is a probability distribution over texts we can sample from — a **policy**.
# Notebook 04 starts the reinforcement-learning half of the course: how to change a policy so that its
# samples earn more reward, when there is no data token to imitate.
