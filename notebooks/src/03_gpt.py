# %% [markdown]
# # 03 · GPT: a decoder-only transformer that writes Shakespeare
#
# **What you will build:** the GPT of the course — token and position embeddings, a stack of
# pre-LayerNorm transformer blocks (causal self-attention and an MLP on a residual stream), and an
# output layer tied to the embedding. You will count its parameters by hand, train a small one on
# Tiny Shakespeare in well under a minute, beat the bigram model of notebook 01, and sample text with
# temperature, top-k and top-p. This GPT is the **policy** that notebooks 08–09 fine-tune with RL.
#
# **Learning goals**
# - Write a GPT from its parts and check it against the package's `GPT`, weight for weight.
# - Count its parameters from the configuration, and see what weight tying saves.
# - Train it with the package trainer and compare validation losses with the bigram model and a GRU.
# - Sample with temperature, top-k and top-p (nucleus) filtering.
# - Test causality directly, and see a model without the causal mask cheat.
# - Recognise why `nn.Transformer` (an encoder–decoder) is not a GPT.
#
# **Prerequisites:** notebook 01 (cross-entropy, the bigram model) and notebook 02 (attention, causal
# masks, multi-head reshapes).

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
#   *adds* to it and never overwrites it. Gradients flow straight down the additions, which is what
#   makes deep stacks trainable.
# - **Pre-LayerNorm**: each sub-layer reads a normalised copy $\mathrm{LN}(h)$ (zero mean, unit variance
#   over the C channels, then a learned gain and bias); the stream itself is normalised once, at the end.
# - **Causal self-attention** (notebook 02) is the only place where positions exchange information;
#   the **MLP** ($C \to 4C \to C$ with a GELU) works on each position separately.
# - **Weight tying**: the output layer reuses the token embedding $E$ ($z_t = h_t E^\top$): a token's
#   input vector is also the direction that predicts it.
#
# Written out, with the attention pieces checked in notebook 02 (now imported from the package):

# %%
from lmrl_course.attention import scaled_dot_product_attention, split_heads, merge_heads


class SelfAttention(nn.Module):
    def __init__(self, C, n_head, causal=True):
        super().__init__()
        self.n_head, self.causal = n_head, causal
        self.c_attn = nn.Linear(C, 3 * C)          # W_Q, W_K, W_V for all heads at once
        self.c_proj = nn.Linear(C, C)              # W_O

    def forward(self, x):                          # x: (B, T, C)
        C = x.shape[-1]
        q, k, v = (split_heads(t, self.n_head) for t in self.c_attn(x).split(C, dim=-1))  # (B, H, T, hs)
        y = scaled_dot_product_attention(q, k, v, is_causal=self.causal)                # (B, H, T, hs)
        return self.c_proj(merge_heads(y))                                               # (B, T, C)


class MLP(nn.Module):
    def __init__(self, C):
        super().__init__()
        self.c_fc, self.gelu, self.c_proj = nn.Linear(C, 4 * C), nn.GELU(), nn.Linear(4 * C, C)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, C, n_head, causal=True):
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(C), SelfAttention(C, n_head, causal)
        self.ln_2, self.mlp = nn.LayerNorm(C), MLP(C)

    def forward(self, h):
        h = h + self.attn(self.ln_1(h))            # read the other positions, add to the stream
        return h + self.mlp(self.ln_2(h))          # think per position, add to the stream


class MyGPT(nn.Module):
    def __init__(self, V, block_size, n_layer, n_head, C, causal=True):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(V, C),                # E
            wpe=nn.Embedding(block_size, C),       # P
            h=nn.ModuleList([Block(C, n_head, causal) for _ in range(n_layer)]),
            ln_f=nn.LayerNorm(C),
        ))
        self.lm_head = nn.Linear(C, V, bias=False)
        self.lm_head.weight = self.transformer.wte.weight     # weight tying: one matrix, two uses

    def forward(self, idx):                        # idx: (B, T)
        T = idx.shape[1]
        h = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(T, device=idx.device))  # (B, T, C)
        for block in self.transformer.h:
            h = block(h)
        return self.lm_head(self.transformer.ln_f(h))         # (B, T, V) logits

# %% [markdown]
# The package's `GPT` is the same model with input checks, dropout, GPT-2's initialisation and
# sampling helpers. Copy its weights into ours (the parameter names match) and compare the logits:

# %%
from lmrl_course.gpt import GPT, GPTConfig

seed_everything(0)
cfg = GPTConfig(vocab_size=V, block_size=32, n_layer=2, n_head=4, n_embd=64)
package_model = GPT(cfg).eval()
mine = MyGPT(V, cfg.block_size, cfg.n_layer, cfg.n_head, cfg.n_embd)
mine.load_state_dict(package_model.state_dict())
idx = torch.tensor([tok.encode("First Citizen:\nBefore we proceed")])        # (1, T)
with torch.no_grad():
    logits_mine = mine(idx)
    logits_package, _ = package_model(idx)
torch.testing.assert_close(logits_mine, logits_package)
print("logits", tuple(logits_mine.shape), "max abs diff", f"{(logits_mine - logits_package).abs().max().item():.1e}")
print("tied:", package_model.lm_head.weight is package_model.transformer.wte.weight)

# %% [markdown]
# ## 2. How many parameters?
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
from lmrl_course.exercises import check

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
print(f"{'total (model.num_parameters())':<32}{package_model.num_parameters():>9,}")
print(f"{'count_parameters(cfg)':<32}{count_parameters(cfg):>9,}")
print(f"without tying the output layer would add V·C = {V * cfg.n_embd:,} parameters")

# %% [markdown]
# For a big model the $12\,L\,C^2$ of the blocks dominates — that is the "$12 L d^2$" rule of thumb
# for transformer sizes. For our tiny character model the embeddings are still a fair share.
#
# ## 3. Choosing the next token: temperature, top-k, top-p
#
# A language model gives a distribution $p_\theta(\cdot \mid x_{\le t})$; **sampling** draws the next
# token from it. Three knobs reshape the distribution first:
#
# - **temperature** $\tau$: sample from $\mathrm{softmax}(z / \tau)$; $\tau < 1$ sharpens, $\tau > 1$
#   flattens, $\tau \to 0$ is greedy (argmax).
# - **top-k**: keep only the $k$ largest logits (set the rest to $-\infty$).
# - **top-p** (nucleus sampling): keep the *smallest* set of most likely tokens whose probabilities add
#   up to at least $p$. Unlike top-k, the number kept adapts: few tokens when the model is sure, many
#   when it is not.
#
# Let us look at a real next-character distribution: the bigram model of notebook 01 after the letter
# `h` (its log-probabilities are perfectly good logits).

# %%
N = bigram_counts(train_ids, V)
bigram_logp = ((N + 1).float() / (N + 1).sum(dim=1, keepdim=True)).log()     # (V, V)
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
# ## 4. Training a small GPT
#
# The package trainer `train_lm` draws random windows of T characters (the targets are the same window
# shifted by one, notebook 01), minimises the mean cross-entropy with AdamW, warms the learning rate up
# and decays it along a cosine, clips the gradient norm, and every `eval_interval` steps records the
# training loss and a validation estimate. A 2-layer, 64-wide model with a context of 32 characters,
# 400 steps of 32 windows: about 20 seconds on one CPU thread.

# %%
from lmrl_course.lm_trainer import TrainConfig, train_lm, evaluate_split

seed_everything(0)
model = GPT(cfg)
train_cfg = TrainConfig(max_iters=400, batch_size=32, block_size=32, learning_rate=1e-2, min_lr=1e-3,
                        warmup_iters=30, eval_interval=50, eval_iters=10, seed=0)
t0 = time.perf_counter()
history = train_lm(model, train_ids, val_ids, train_cfg, progress=True)
print(f"took {time.perf_counter() - t0:.2f} s")
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

# %% [markdown]
# The GPT passes the bigram model within the first 150 steps and keeps improving. On the whole validation text
# (`evaluate_split` cuts it into windows and averages the NLL of every character):

# %%
from lmrl_course.paths import GPT_CHECKPOINT_PATH
from lmrl_course.gpt import load_pretrained

gpt_val = evaluate_split(model, val_ids)
rows = [("uniform over V", math.log(V)), ("bigram (counts, notebook 01)", bigram_val),
        ("small GPT, trained above", gpt_val)]
if GPT_CHECKPOINT_PATH.exists():
    shipped, _ = load_pretrained(device="cpu")
    rows.append((f"shipped GPT ({shipped.num_parameters():,} params)", evaluate_split(shipped, val_ids[:20000])))
print(f"{'model':<34}{'val NLL':>8}{'perplexity':>11}{'bits/char':>10}")
for name, nll in rows:
    print(f"{name:<34}{nll:>8.3f}{math.exp(nll):>11.2f}{nll / math.log(2):>10.3f}")

# %% [markdown]
# (The shipped model, where it is present, is scored on the first 20,000 validation characters to keep
# this cell fast; it was trained much longer with a longer context.)
#
# ### And a recurrent network?
#
# Many popular write-ups of character-level language modelling use a recurrent network instead: an
# LSTM or a GRU reads the characters one at a time and carries a hidden state $h_t$ that has to
# summarise everything read so far,
#
# $$h_t = \mathrm{GRU}(h_{t-1}, E[x_t]), \qquad z_t = W h_t + b, \qquad h_0 = 0.$$
#
# The order of the updates tells it where it is, so it needs no position embedding. Below, a one-layer
# GRU with about as many parameters as the small GPT is trained by the same `train_lm`, on the same
# batches, for the same 400 steps, and scored the same way (windows of 32 characters, $h_0 = 0$ in each).

# %%
class CharGRU(nn.Module):
    """A recurrent character model: h_t = GRU(h_{t-1}, E[x_t]), z_t = W h_t + b, h_0 = 0."""

    def __init__(self, vocab_size, n_embd=64, hidden=144):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)                # E: (V, n_embd)
        self.gru = nn.GRU(n_embd, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)                  # W, b

    def forward(self, idx, targets=None):
        h, _ = self.gru(self.wte(idx))                             # (B, T, hidden): h_1 .. h_T
        logits = self.head(h)                                      # (B, T, V)
        loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss


seed_everything(0)
gru = CharGRU(V)
t0 = time.perf_counter()
gru_history = train_lm(gru, train_ids, val_ids, train_cfg, progress=True)
print(f"took {time.perf_counter() - t0:.2f} s")
gru_val = evaluate_split(gru, val_ids, block_size=train_cfg.block_size)
print(f"{'model':<30}{'parameters':>11}{'val NLL':>9}")
print(f"{'small GPT (2 layers, C = 64)':<30}{model.num_parameters():>11,}{gpt_val:>9.3f}")
print(f"{'GRU (hidden size 144)':<30}{sum(p.numel() for p in gru.parameters()):>11,}{gru_val:>9.3f}")

# %%
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(history["iter"], history["val_loss"], "o-", label="small GPT")
ax.plot(gru_history["iter"], gru_history["val_loss"], "s-", label="GRU, same size and budget")
ax.axhline(bigram_val, c="k", ls="--", label="bigram model")
ax.set_xlabel("step")
ax.set_ylabel("validation cross-entropy (nats/char)")
ax.legend()
plt.show()

# %% [markdown]
# **The GRU wins here**, clearly, and it is worth saying plainly: with about 100k parameters, 400 steps
# and 32 characters of context, a recurrent state is a strong prior for text read left to right. What
# attention buys is not a lower loss at this budget:
#
# - **Training in parallel over the sequence.** The GPT computes all T positions of a window with a few
#   large matrix products; the GRU cannot start $h_t$ before $h_{t-1}$ is done. On a GPU, with long
#   sequences, that decides how much of the hardware a model can use.
# - **Direct access to the past.** Position t reads any earlier position through one attention weight;
#   the GRU has to carry everything it may need later through 144 numbers, step after step.
# - **Scale.** Transformers keep improving as they are made larger and trained longer: the shipped GPT
#   (1.8M parameters, a context of 128, 3,000 steps) is far below both in the table above.
#
# "Transformers beat RNNs" is a statement about a budget; one small run can show the opposite.
#
# ## 5. Generating text
#
# Generation is a loop: feed the last `block_size` tokens, take the logits of the **last** position,
# reshape them (temperature, top-k, top-p), sample, append. Written out, it draws exactly the same tokens
# as the package's `GPT.generate` from the same seeded generator:

# %%
@torch.no_grad()
def sample(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None):
    for _ in range(max_new_tokens):
        logits, _ = model(idx[:, -model.config.block_size:])      # (B, T, V)
        z = logits[:, -1, :] / temperature                         # (B, V): the last position only
        if top_k is not None:
            z = top_k_filter(z, top_k)
        if top_p is not None:
            z = top_p_filter(z, top_p)
        next_id = torch.multinomial(torch.softmax(z, dim=-1), 1, generator=generator)   # (B, 1)
        idx = torch.cat([idx, next_id], dim=1)
    return idx


prompt = torch.tensor([tok.encode("ROMEO:\n")])
ours = sample(model, prompt, 200, temperature=0.8, top_k=20, generator=torch.Generator().manual_seed(0))
theirs = model.generate(prompt, 200, temperature=0.8, top_k=20, generator=torch.Generator().manual_seed(0))
print("same tokens as model.generate:", torch.equal(ours, theirs))
print(tok.decode(ours[0]))

# %% [markdown]
# ## Play: sample from the shipped GPT
#
# The widget samples from the course's shipped checkpoint (trained longer than the model above; if the
# checkpoint is missing it falls back to the model you just trained). The same seed gives the same
# text. Try temperature 0.1 (repetitive, "safe"), 1.5 (inventive spelling), top-k = 1 (greedy), and
# top-p = 0.5 against top-p = 1.

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
# ## 6. Causality, tested — and what happens without the mask
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
# including $x_{t+1}$, the very token it is asked to predict. Train it exactly as before:

# %%
seed_everything(0)
cheater = GPT(GPTConfig(vocab_size=V, block_size=32, n_layer=2, n_head=4, n_embd=64, causal=False))
t0 = time.perf_counter()
history_cheat = train_lm(cheater, train_ids, val_ids, train_cfg, progress=True)
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
print(f"final train loss: causal {history['train_loss'][-1]:.3f}, no mask {history_cheat['train_loss'][-1]:.3f}")
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
# > leak test of section 6 (change the last token, measure how much positions 0..T−2 change), next to the
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
# masking *three* attentions of an architecture built for a different problem, with twice the
# attention layers and an encoder that contributes nothing a decoder-only model lacks. A GPT is the
# decoder alone, with no cross-attention: one causal self-attention per block, as in section 1.
#
# ## Check yourself
#
# - Write the three equations of a GPT (embedding, block, output). Where do positions exchange information?
# - Why does every block *add* to the residual stream instead of replacing it?
# - What does weight tying share, and how many parameters does it save here?
# - Why does the number of heads not change the parameter count?
# - How do temperature, top-k and top-p change the next-token distribution? Which one adapts to the
#   model's confidence?
# - At this notebook's budget a GRU of the same size beats the small GPT. What does attention buy?
# - What is the leak test, and what does a model without the causal mask learn instead of language?
# - Why is `nn.Transformer(src=text, tgt=text)` not a language model?
#
# **Next:** the GPT is a probability distribution over texts we can sample from — a **policy**.
# Notebook 04 starts the reinforcement-learning half of the course: how to change a policy so that its
# samples earn more reward, when there is no data token to imitate.
