# %% [markdown]
# # 01 · Cross-entropy: from counting to predicting the next character
#
# **What you will build:** the first language model of the course. It reads Tiny Shakespeare one
# character at a time and predicts the next character — first by *counting* which character follows
# which (a bigram table), then as a *trainable* PyTorch model that learns the same table by gradient
# descent on the **cross-entropy** loss. Every later model of the course, the GPT of notebook 03 and
# the RL-fine-tuned GPT of notebooks 08–09, is trained or judged with the quantities built here.
#
# **Learning goals**
# - Turn text into token ids with a character tokenizer, and ids back into text.
# - Build a count-based bigram model and measure it with the **negative log-likelihood**, the
#   **perplexity** and **bits per character**.
# - Explain why $H(p, q) = H(p) + \mathrm{KL}(p\,\|\,q)$ makes cross-entropy the right training loss.
# - Write a numerically stable `log_softmax` (log-sum-exp) and `cross_entropy` with `ignore_index`.
# - Derive and check the gradient $\partial \mathcal L / \partial z = \mathrm{softmax}(z) - \mathrm{onehot}(y)$.
# - Tell supervised training apart from REINFORCE, even when someone calls the loss a "reward".
#
# **Prerequisites:** notebook 00 (the exercise system, the stable softmax).

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
# ## 1. The data: one megabyte of Shakespeare
#
# Tiny Shakespeare is a single text file of about 1.1 million characters: plays concatenated, each line
# of dialogue under its speaker's name. The course ships it in `assets/`; `load_text()` reads it.

# %%
from lmrl_course.data import load_text

text = load_text()
print(f"{len(text):,} characters")
print("-" * 40)
print(text[:250])

# %% [markdown]
# ## 2. A character tokenizer
#
# A model works with numbers, not letters. A **tokenizer** maps each of the $V$ distinct characters to
# an id in $[0, V)$ (`stoi`, "string to int") and back (`itos`). Sorting the characters makes the ids
# repeatable: the same text always gives the same vocabulary. Written out, it is three lines:

# %%
chars = sorted(set(text))                      # the vocabulary, in a fixed order
stoi = {c: i for i, c in enumerate(chars)}     # character -> id
itos = {i: c for i, c in enumerate(chars)}     # id -> character


def encode(s):
    return [stoi[c] for c in s]


def decode(ids):
    return "".join(itos[int(i)] for i in ids)


V = len(chars)
print("V =", V)
print("vocabulary:", repr("".join(chars)))
print("encode('To be') =", encode("To be"))
print("decode(encode('To be')) =", repr(decode(encode("To be"))))

# %% [markdown]
# The package's `CharTokenizer` is the same thing with input checks (an unknown character raises a
# clear error). Check that both agree, then use the package's from here on:

# %%
from lmrl_course.data import CharTokenizer, train_val_split

tok = CharTokenizer.from_text(text)
same_ids = tok.encode(text) == encode(text)
print("same vocabulary:", tok.chars == chars)
print("same ids on the whole text:", same_ids)

ids = torch.tensor(tok.encode(text), dtype=torch.long)  # (N,)
train_ids, val_ids = train_val_split(ids, 0.1)           # first 90% / last 10%, not shuffled
print(f"train: {len(train_ids):,} ids   val: {len(val_ids):,} ids")

# %% [markdown]
# The validation split is the *end* of the file, a piece of text the model never trains on. We judge
# every model by how well it predicts that text.
#
# ## 3. Counting: the bigram model
#
# The simplest model of "the next character" looks only at the current one. Count, over the training
# text, how often character $b$ follows character $a$:
#
# $$n_{ab} = \#\{t : x_t = a,\ x_{t+1} = b\}, \qquad
#   p(x_{t+1} = b \mid x_t = a) = \frac{n_{ab} + \alpha}{\sum_{b'} (n_{ab'} + \alpha)} .$$
#
# The $+\alpha$ (**add-one smoothing** with $\alpha = 1$) keeps a pair never seen in training from
# getting probability 0 — otherwise one unseen pair in the validation text would make the loss infinite.
# Counting all pairs at once: `index_put_(..., accumulate=True)` adds 1 at row $a$, column $b$ for every pair
# (the package's `bigram_counts`, which the check below compares with, does the same with `bincount` on the
# single index $a \cdot V + b$).

# %%
def count_bigrams(ids, V):
    counts = torch.zeros(V, V, dtype=torch.long)
    counts.index_put_((ids[:-1], ids[1:]), torch.ones(len(ids) - 1, dtype=torch.long), accumulate=True)
    return counts                                          # (V, V): counts[a, b] = n_ab


counts = count_bigrams(train_ids, V)
from lmrl_course.data import bigram_counts

print("same counts as the package's bigram_counts:", torch.equal(counts, bigram_counts(train_ids, V)))
print("total pairs counted:", f"{int(counts.sum()):,}")
print("most frequent follower of 'q':", repr(tok.itos[int(counts[tok.stoi['q']].argmax())]),
      f"({int(counts[tok.stoi['q']].max())} of {int(counts[tok.stoi['q']].sum())})")

# %%
alpha = 1.0
P = (counts + alpha).float()
P = P / P.sum(dim=1, keepdim=True)  # (V, V): row a is p(next | current = a)

show = [" ", "\n"] + list("abcdefghijklmnopqrstuvwxyz")
sub = P[[tok.stoi[c] for c in show]][:, [tok.stoi[c] for c in show]]
labels = ["␣", "⏎"] + show[2:]
fig, ax = plt.subplots(figsize=(6.5, 5.5))
im = ax.imshow(sub.numpy(), cmap="Blues")
ax.set_xticks(range(len(show)), labels)
ax.set_yticks(range(len(show)), labels)
ax.set_xlabel("next character b")
ax.set_ylabel("current character a")
ax.set_title("bigram probabilities p(b | a) (part of the table)")
fig.colorbar(im, ax=ax, shrink=0.8)
plt.show()

# %% [markdown]
# Dark cells are likely continuations: `q → u`, a space after most word endings, `t → h`. Sampling from
# this table one character at a time produces text with Shakespeare's letter-pair statistics, a few short
# real words by chance, and no longer ones:

# %%
def sample_bigram(P, start, n, generator):
    out = [start]
    for _ in range(n):
        out.append(int(torch.multinomial(P[out[-1]], 1, generator=generator)))
    return out


g = seed_everything(1)
print(tok.decode(sample_bigram(P, tok.stoi["\n"], 200, g)))

# %% [markdown]
# ## 4. How good is a model? Likelihood, NLL, perplexity, bits per character
#
# A language model assigns a probability to every text, one character at a time (the chain rule of
# probability):
#
# $$p_\theta(x_1..x_T) = p_\theta(x_1) \prod_{t=1}^{T-1} p_\theta(x_{t+1} \mid x_{\le t}).$$
#
# The first character has no context; it is scored by its own frequency, or, as here and in the GPT,
# left out: we measure how well the model predicts the $T - 1$ characters that have one. A better
# model gives the real text a higher probability. Products of a million numbers below 1 underflow, so
# we take logs, flip the sign (to get something to *minimise*) and average over the predicted characters:
#
# $$\mathrm{NLL} = -\frac{1}{T-1} \sum_{t=1}^{T-1} \log p_\theta(x_{t+1} \mid x_{\le t}) \quad\text{(nats per character)}.$$
#
# Two rescalings make it easier to read:
#
# - **perplexity** $= e^{\mathrm{NLL}}$: the model is as uncertain as a uniform choice among that many
#   characters. A uniform model over $V = 65$ characters has perplexity exactly 65.
# - **bits per character** $= \mathrm{NLL} / \ln 2$: the average number of bits a compressor driven by
#   the model would spend on each character (plain 8-bit text spends 8).

# %%
def mean_nll(P, ids):
    return -P[ids[:-1], ids[1:]].log().mean().item()


nll_uniform = math.log(V)
nll_train = mean_nll(P, train_ids)
nll_val = mean_nll(P, val_ids)
print(f"{'model':<22}{'NLL (nats)':>11}{'perplexity':>12}{'bits/char':>11}")
for name, nll in [("uniform over V", nll_uniform), ("bigram, train text", nll_train),
                  ("bigram, val text", nll_val)]:
    print(f"{name:<22}{nll:>11.4f}{math.exp(nll):>12.2f}{nll / math.log(2):>11.3f}")

# %% [markdown]
# Counting the previous character cuts the perplexity from 65 to about 12. The package has the two
# conversions, `perplexity` and `bits_per_char`; they agree:

# %%
from lmrl_course.losses import perplexity, bits_per_char

print(f"perplexity:    ours {math.exp(nll_val):.4f}   package {float(perplexity(nll_val)):.4f}")
print(f"bits per char: ours {nll_val / math.log(2):.4f}   package {float(bits_per_char(nll_val)):.4f}")

# %% [markdown]
# ## 5. Cross-entropy, entropy and KL divergence
#
# Let $p$ be the distribution the data really comes from and $q$ the model's. The **cross-entropy**
# is the average surprise $-\log q$ under data drawn from $p$:
#
# $$H(p, q) = -\sum_i p_i \log q_i .$$
#
# It splits into two parts:
#
# $$H(p, q) = \underbrace{-\sum_i p_i \log p_i}_{H(p),\ \text{entropy: the data's own uncertainty}}
#   + \underbrace{\sum_i p_i \log \frac{p_i}{q_i}}_{\mathrm{KL}(p\,\|\,q) \ \ge 0,\ \text{the model's error}} .$$
#
# $H(p)$ does not depend on the model, so **minimising cross-entropy minimises the KL divergence to
# the data**, and the best possible loss is $H(p)$, reached exactly when $q = p$. Training on one data
# token $y$ at a time uses a one-hot $p$; then $H(p, q) = -\log q_y$, the NLL of section 4.
#
# A check with real distributions: $p$ = what follows the letter `e` in the training text, $q$ = what
# follows `e` in the validation text.

# %%
e = tok.stoi["e"]
p = P[e]                                                       # train: p(next | 'e')
q = (bigram_counts(val_ids, V)[e] + alpha).float()
q = q / q.sum()                                                # val: p(next | 'e')

H_p = -(p * p.log()).sum()
KL_pq = (p * (p.log() - q.log())).sum()
H_pq = -(p * q.log()).sum()
print(f"H(p)           = {H_p.item():.5f}")
print(f"KL(p || q)     = {KL_pq.item():.5f}")
print(f"H(p) + KL      = {(H_p + KL_pq).item():.5f}")
print(f"H(p, q)        = {H_pq.item():.5f}")

# %% [markdown]
# The package's `entropy` and `kl_divergence` take **logits** (unnormalised log-probabilities), the
# form a model outputs; `log p` is a valid set of logits for $p$:

# %%
from lmrl_course.losses import entropy, kl_divergence

print(f"package entropy(log p)          = {float(entropy(p.log())):.5f}")
print(f"package kl_divergence(log p, log q) = {float(kl_divergence(p.log(), q.log())):.5f}")

# %% [markdown]
# ## 6. From logits to log-probabilities, stably
#
# A neural network outputs **logits** $z \in \mathbb{R}^V$, any real numbers; the softmax turns them into
# probabilities. The loss needs $\log \mathrm{softmax}(z)$:
#
# $$\log \mathrm{softmax}(z)_i = z_i - \log \sum_j e^{z_j} .$$
#
# Computing `softmax(z).log()` literally fails in two ways in float32: $e^{z}$ overflows to `inf` for
# $z \gtrsim 89$ (then `inf/inf = nan`), and a tiny probability underflows to 0 (then `log 0 = -inf`)
# although its log is a perfectly ordinary number. The **log-sum-exp** trick subtracts the maximum
# $m = \max_j z_j$ inside the log, which changes nothing mathematically:
#
# $$\log \sum_j e^{z_j} = m + \log \sum_j e^{z_j - m} , \qquad \text{every } e^{z_j - m} \le 1,
#   \text{ and the largest is exactly } 1 .$$

# %%
def naive_log_softmax(z, dim=-1):
    return (z.exp() / z.exp().sum(dim=dim, keepdim=True)).log()


for z in [torch.tensor([2.0, 1.0, 0.0]), torch.tensor([1000.0, 0.0, -5.0]), torch.tensor([0.0, -120.0, -5.0])]:
    print(f"z = {z.tolist()}")
    print("   naive  :", [round(v, 4) for v in naive_log_softmax(z).tolist()])
    print("   torch  :", [round(v, 4) for v in torch.log_softmax(z, dim=-1).tolist()])

# %% [markdown]
# Large logits give `nan` (overflow); very negative ones give `-inf` where the answer is about $-120$
# (underflow). Underflow needs only a logit gap above about 100, which a confident model can reach;
# overflow ($z \gtrsim 89$) needs unshifted logits that large, which is rarer.
#
# **Your turn:** write `log_softmax(z, dim=-1)` with the log-sum-exp trick: any shape, any `dim`, keep
# the dtype, no `nan` or `-inf` on the inputs above. The check compares your values *and gradients*
# with the reference, on inputs that include logits of $\pm 10^4$, so build it from differentiable torch
# operations (no `.item()`, no NumPy). (Do not call `torch.log_softmax`, `torch.logsumexp` or
# `F.log_softmax` — that would skip the point.)

# %% tags=["exercise"]
# EXERCISE: log_softmax
def log_softmax(z, dim=-1):
    # Replace the next line with your code (about three lines).
    raise NotImplementedError

# %%
from lmrl_course.exercises import check

result_log_softmax = check("log_softmax", log_softmax)
result_log_softmax

# %%
log_softmax = result_log_softmax.function       # yours once it passes, the reference until then
from lmrl_course.losses import log_softmax as package_log_softmax

seed_everything(2)
z = torch.randn(4, 65) * 30
print("max |ours - torch.log_softmax|   =", f"{(log_softmax(z) - torch.log_softmax(z, -1)).abs().max().item():.2e}")
print("max |ours - package log_softmax| =", f"{(log_softmax(z) - package_log_softmax(z)).abs().max().item():.2e}")
print("on [0, -120, -5]:", [round(v, 4) for v in log_softmax(torch.tensor([0.0, -120.0, -5.0])).tolist()])

# %% [markdown]
# ## 7. The cross-entropy loss, with `ignore_index`
#
# For a batch of positions with logits $z_n$ (shape (N, V)) and target ids $y_n$, the training loss is
# the mean NLL of the targets:
#
# $$\mathcal L = -\frac{1}{|S|} \sum_{n \in S} \log \mathrm{softmax}(z_n)_{y_n}, \qquad
#   S = \{n : y_n \ne \texttt{ignore\_index}\}.$$
#
# `ignore_index` (PyTorch's default is $-100$) marks positions that must not count: padding when
# sequences of different lengths share a batch, or positions whose prediction is not being trained. They are
# left out of both the sum *and* the count $|S|$. (The RLHF notebooks solve the same problem with a boolean mask
# over the response tokens instead of a token id, since there the padding id is a real character.)
#
# **Your turn:** write `cross_entropy(logits, targets, ignore_index=-100)` for logits of shape
# (..., V) and integer targets of shape (...), returning the mean over the non-ignored positions, in the
# dtype of the logits (float64 in, float64 out). `ignore_index` can be any id — one case of the check
# uses `ignore_index=0`, a real token id — and the check compares gradients too, so keep it
# differentiable. Use your `log_softmax` (`torch.gather` picks one entry per row; an ignored target is
# not a valid index, so replace it by 0 before gathering and mask it out afterwards). Do not call
# `F.cross_entropy` or `F.nll_loss`: the checker refuses them.

# %% tags=["exercise"]
# EXERCISE: cross_entropy
def cross_entropy(logits, targets, ignore_index=-100):
    # Replace the next line with your code (about six lines).
    raise NotImplementedError

# %%
result_cross_entropy = check("cross_entropy", cross_entropy)
result_cross_entropy

# %%
cross_entropy = result_cross_entropy.function
from lmrl_course.losses import cross_entropy as package_cross_entropy

seed_everything(3)
logits = torch.randn(2, 8, V)                              # (B, T, V)
targets = torch.randint(V, (2, 8))                          # (B, T)
targets[1, 5:] = -100                                       # padding at the end of sequence 2
ours = cross_entropy(logits, targets)
print(f"ours            {ours.item():.6f}")
print(f"package         {package_cross_entropy(logits, targets).item():.6f}")
print(f"F.cross_entropy {F.cross_entropy(logits.view(-1, V), targets.view(-1)).item():.6f}")
print(f"by hand, mean over the 13 real positions: "
      f"{-log_softmax(logits)[targets != -100].gather(-1, targets[targets != -100][:, None]).mean().item():.6f}")

# %% [markdown]
# ## 8. The same bigram model, trained: `nn.Embedding`
#
# A bigram model is a table of $V \times V$ numbers. Make it a table of **logits** $W$ instead of
# counts: row $a$ of $W$ holds the logits $z$ for the character after $a$, and
# $p_\theta(b \mid a) = \mathrm{softmax}(W_a)_b$. Looking up a row is exactly what `nn.Embedding(V, V)`
# does. Train $W$ by gradient descent on the cross-entropy of random batches of (current, next) pairs.
#
# The unsmoothed count table ($\alpha = 0$) is the **maximum-likelihood** solution on the training
# pairs (the empirical frequencies minimise the cross-entropy of the training pairs), so training can
# approach its training loss but not go below it. A few seconds on one CPU thread (the time printed
# depends on the machine and its load):

# %% tags=["solutions-skip"]
seed_everything(0)
emb = nn.Embedding(V, V)
nn.init.zeros_(emb.weight)              # all logits 0: starts as the uniform model, loss log V
steps, batch_size = 500, 4096
opt = torch.optim.Adam(emb.parameters(), lr=0.2)
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
g = torch.Generator().manual_seed(0)
losses = []
t0 = time.perf_counter()
for step in range(steps):
    ix = torch.randint(len(train_ids) - 1, (batch_size,), generator=g)
    x, y = train_ids[ix], train_ids[ix + 1]       # (B,), (B,)
    loss = cross_entropy(emb(x), y)                # emb(x): (B, V) logits
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    losses.append(loss.item())
print(f"took {time.perf_counter() - t0:.2f} s")
with torch.no_grad():
    nll_val_emb = cross_entropy(emb(val_ids[:-1]), val_ids[1:]).item()
    nll_train_emb = -torch.log_softmax(emb.weight, dim=-1)[train_ids[:-1], train_ids[1:]].mean().item()
P_ml = counts.float() / counts.sum(dim=1, keepdim=True).clamp(min=1)     # α = 0: the maximum-likelihood table
nll_train_ml = mean_nll(P_ml, train_ids)
print(f"train NLL:      unsmoothed counts (α = 0) {nll_train_ml:.4f}   smoothed (α = 1) {nll_train:.4f}   "
      f"trained nn.Embedding {nll_train_emb:.4f}")
print(f"validation NLL: count model (α = 1) {nll_val:.4f}   trained nn.Embedding {nll_val_emb:.4f}")

# %% tags=["solutions-skip"]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.3))
axes[0].plot(losses, lw=0.8, label="minibatch loss (train)")
axes[0].axhline(nll_train, c="k", ls="--", label=f"count model, train ({nll_train:.3f})")
axes[0].axhline(math.log(V), c="gray", ls=":", label=f"uniform, log V ({math.log(V):.3f})")
axes[0].set_ylim(2.3, 4.3)
axes[0].set_xlabel("step")
axes[0].set_ylabel("cross-entropy (nats)")
axes[0].legend()
learned = torch.softmax(emb.weight.detach(), dim=-1)
frequent = counts.sum(1) > 1000                     # rows with enough data to estimate well
axes[1].scatter(P[frequent].flatten().numpy(), learned[frequent].flatten().numpy(), s=3, alpha=0.4)
axes[1].plot([0, 1], [0, 1], c="k", lw=0.8)
axes[1].set_xlabel("counted p(b | a)")
axes[1].set_ylabel("trained softmax(W_a)_b")
axes[1].set_title("the trained table ≈ the counted one")
plt.show()

# %% [markdown]
# On the training pairs the trained table (2.4543) stays just above the floor set by the unsmoothed
# counts (2.4519); on validation the smoothed count model and the trained one are nearly equal (2.4819
# vs 2.4866). Gradient descent found (almost exactly) the counted table, at least for the characters seen often
# enough to be drawn in the figure; the rows of rare characters are learned from few pairs. This is the pattern of the whole course:
# a neural network is a parameterised $p_\theta$, and **cross-entropy training is maximum likelihood**.
# The bigram model stops at about 2.48 nats because one character of context is all it sees; the
# small GPT trained in notebook 03 sees 32 (and the shipped GPT 128).
#
# ## 9. The gradient of cross-entropy: softmax minus one-hot
#
# Why does this train so easily? For one position with logits $z$ and target $y$,
# $\mathcal L = -z_y + \log \sum_j e^{z_j}$, so
#
# $$\frac{\partial \mathcal L}{\partial z_i} = -\mathbb{1}[i = y] + \frac{e^{z_i}}{\sum_j e^{z_j}}
#   = \mathrm{softmax}(z)_i - \mathrm{onehot}(y)_i .$$
#
# Every wrong character's logit is pushed down by its probability, the right one's is pushed up by
# $1 - p_y$; the push stops only when $p_y = 1$. With a mean over $N$ positions, divide by $N$. Check
# against autograd:

# %%
seed_everything(4)
z = torch.randn(6, V, requires_grad=True)          # (N, V)
y = torch.randint(V, (6,))
F.cross_entropy(z, y).backward()
by_hand = (torch.softmax(z.detach(), dim=-1) - F.one_hot(y, V).float()) / len(y)
print("autograd vs softmax - onehot: max abs diff", f"{(z.grad - by_hand).abs().max().item():.2e}")
print("each row of the gradient sums to", f"{z.grad.sum(dim=-1).abs().max().item():.1e}",
      "(softmax and one-hot both sum to 1)")

# %% [markdown]
# ## Play: drag the logits
#
# Five tokens, one of them the target. Move a logit and watch the probabilities, the loss
# $-\log p_y$ and the gradient $\mathrm{softmax}(z) - \mathrm{onehot}(y)$ (right: the direction gradient
# *descent* moves each logit is minus this). Try: make the target's logit the largest; then add the
# same number to every logit (nothing changes); then push the target far below the others (the loss
# grows linearly, not exponentially, and the gradient saturates at $-1$).

# %%
import ipywidgets as widgets
from lmrl_course.widgets import PlotWidget

TOKENS = ["a", "b", "c", "d", "e"]


def draw_logits(fig, z_a, z_b, z_c, z_d, z_e, target):
    z = torch.tensor([z_a, z_b, z_c, z_d, z_e])
    probs = torch.softmax(z, dim=-1)
    y = TOKENS.index(target)
    loss = -torch.log_softmax(z, dim=-1)[y].item()
    grad = probs - F.one_hot(torch.tensor(y), 5).float()
    ax1, ax2 = fig.subplots(1, 2)
    colors = ["tab:orange" if i == y else "tab:blue" for i in range(5)]
    ax1.bar(TOKENS, probs.tolist(), color=colors)
    ax1.set_ylim(0, 1)
    ax1.set_title("softmax(z)   (orange = target)")
    ax2.bar(TOKENS, grad.tolist(), color=colors)
    ax2.set_ylim(-1, 1)
    ax2.axhline(0, c="k", lw=0.6)
    ax2.set_title("∂L/∂z = softmax − onehot")
    return f"p(target) = {probs[y].item():.4f}   loss = -log p(target) = {loss:.4f} nats"


def logit_slider(name, value):
    return widgets.FloatSlider(value=value, min=-10.0, max=10.0, step=0.5, description=name)


PlotWidget(draw_logits, {
    "z_a": logit_slider("z(a)", 2.0), "z_b": logit_slider("z(b)", 1.0), "z_c": logit_slider("z(c)", 0.0),
    "z_d": logit_slider("z(d)", -1.0), "z_e": logit_slider("z(e)", 0.5),
    "target": widgets.Dropdown(options=TOKENS, value="c", description="target y"),
}, figsize=(8, 2.8))

# %% [markdown]
# ## 10. Two options of the package's `cross_entropy`: `ignore_index` and label smoothing
#
# `ignore_index` you wrote above. **Label smoothing** replaces the one-hot target by
# $(1 - \varepsilon)\,\mathrm{onehot}(y) + \varepsilon / V$ (a little probability on every token), so
#
# $$\mathcal L_\varepsilon = (1 - \varepsilon)\,(-\log p_y) + \varepsilon \cdot \frac{1}{V}\sum_j (-\log p_j) .$$
#
# With $\varepsilon = 0$ the loss keeps falling as the target's logit grows without bound (an
# over-confident model); with $\varepsilon > 0$ it has a minimum at a finite logit gap. The course's
# language models use $\varepsilon = 0$ (we want calibrated probabilities, which RL fine-tuning will
# read); it is here so you recognise it. From scratch, then compared with the package and PyTorch:

# %%
def smoothed_cross_entropy(logits, targets, eps):
    logp = log_softmax(logits)                                   # (N, V)
    nll = -logp.gather(-1, targets[:, None]).squeeze(-1)        # (N,)
    uniform = -logp.mean(dim=-1)                                 # (N,)
    return ((1 - eps) * nll + eps * uniform).mean()


seed_everything(5)
z = torch.randn(10, V) * 2
y = torch.randint(V, (10,))
for eps in [0.0, 0.1]:
    print(f"eps={eps}: ours {smoothed_cross_entropy(z, y, eps).item():.6f}   "
          f"package {package_cross_entropy(z, y, label_smoothing=eps).item():.6f}   "
          f"torch {F.cross_entropy(z, y, label_smoothing=eps).item():.6f}")

gaps = torch.linspace(0, 15, 151)
fig, ax = plt.subplots(figsize=(5.5, 3))
for eps in [0.0, 0.1]:
    curve = [package_cross_entropy(torch.cat([g.view(1), torch.zeros(V - 1)])[None], torch.tensor([0]),
                                   label_smoothing=eps).item() for g in gaps]
    ax.plot(gaps.tolist(), curve, label=f"ε = {eps}")
ax.set_xlabel("logit of the target minus the others")
ax.set_ylabel("loss")
ax.legend()
plt.show()

# %% [markdown]
# > **Common mistake: "the loss is a reward, so supervised training is REINFORCE."**
# >
# > It is tempting to say: *the reward is the negative loss, $R = \log p_\theta(y)$, so training on
# > data is just policy-gradient RL.* The two gradients are different objects:
# >
# > | | supervised (cross-entropy) | REINFORCE (notebook 04–05) |
# > |---|---|---|
# > | gradient | $\nabla_\theta \log p_\theta(y)$, $y$ = **the data token** | $\mathbb{E}_{a \sim \pi_\theta}\big[R(a)\,\nabla_\theta \log \pi_\theta(a)\big]$, $a$ = **the model's own samples** |
# > | randomness | none (given the batch) | Monte Carlo over samples $a$ |
# > | weight on $\nabla \log p$ | always 1 | the reward $R(a)$ of what was sampled |
# >
# > Take the closest RL analogue, the reward $R(a) = \mathbb{1}[a = y]$ ("say the data token"). Its
# > exact policy gradient is $\nabla \Pr(a = y) = p_y\, \nabla \log p_y$: the same direction as the
# > supervised gradient but **scaled by $p_y$**, so it is smallest precisely when the model is bad at $y$ —
# > and an estimate from a few samples is usually *exactly zero*, because $y$ was never sampled.
# > And the literal mistake, plugging $R = \log p_\theta(y)$ (a negative number) in as a detached
# > weight on $\nabla \log p_\theta(y)$, flips the sign of the supervised gradient. Below, one next-character
# > prediction (context `q`, data token `u`, a model that starts uniform); all three run, with
# > gradients with respect to the logits $z$:

# %%
y = tok.stoi["u"]
z0 = torch.zeros(V)                                        # uniform model: p(u) = 1/65
onehot_y = F.one_hot(torch.tensor(y), V).float()


def grad_supervised(z):                                    # ∇_z log p(y) = onehot(y) - p
    return onehot_y - torch.softmax(z, dim=-1)


def grad_mistaken(z):                                      # "reward" R = log p(y), detached, times ∇ log p(y)
    return torch.log_softmax(z, dim=-1)[y] * grad_supervised(z)


def grad_reinforce(z, n_samples, generator):               # (1/n) Σ R(a) ∇_z log π(a), a ~ π, R = 1[a = y]
    probs = torch.softmax(z, dim=-1)
    a = torch.multinomial(probs, n_samples, replacement=True, generator=generator)   # (n,)
    R = (a == y).float()                                                              # (n,)
    return (R[:, None] * (F.one_hot(a, V).float() - probs)).mean(dim=0)


g = seed_everything(6)
exact_reinforce = torch.softmax(z0, -1)[y] * grad_supervised(z0)
estimates = torch.stack([grad_reinforce(z0, 16, g) for _ in range(1000)])   # 1000 estimates, 16 samples each
print(f"p(u) = {torch.softmax(z0, -1)[y].item():.4f}")
print(f"supervised  ∂/∂z_u log p(u)         = {grad_supervised(z0)[y].item():+.4f}")
print(f"mistaken    R·∂/∂z_u log p(u)       = {grad_mistaken(z0)[y].item():+.4f}   (opposite sign)")
print(f"REINFORCE   exact p(u)·∂/∂z_u log p(u) = {exact_reinforce[y].item():+.4f}   (65x smaller)")
print(f"REINFORCE   mean of 1000 estimates    = {estimates[:, y].mean().item():+.4f}")
print(f"REINFORCE   estimates exactly zero    = {(estimates.abs().sum(1) == 0).float().mean().item():.1%}"
      f"   ((64/65)^16 = {(64 / 65) ** 16:.1%})")

# %% [markdown]
# Now follow each gradient uphill for 100 steps (plain gradient ascent on the logits, step size 1;
# REINFORCE draws 16 fresh samples from the current model at every step):

# %%
g = seed_everything(7)
curves = {}
for name, grad_fn in [("supervised: ∇ log p(data token)", grad_supervised),
                      ("mistaken: (−loss as reward) · ∇ log p(data)", grad_mistaken),
                      ("REINFORCE: R(a)·∇ log π(a), a ~ π (16 samples)", lambda z: grad_reinforce(z, 16, g))]:
    z = z0.clone()
    trace = [torch.softmax(z, -1)[y].item()]              # trace[k] = p(u) after k steps
    for step in range(100):
        z = z + 1.0 * grad_fn(z)
        trace.append(torch.softmax(z, -1)[y].item())
    curves[name] = trace
    print(f"{name:<48} p(u) after 5, 10, 20, 50, 100 steps: " + ", ".join(f"{trace[k]:.4f}" for k in (5, 10, 20, 50, 100)))
print("first step with p(u) > 0.5 / 0.9 (supervised):",
      [next(k for k, p in enumerate(curves["supervised: ∇ log p(data token)"]) if p > level) for level in (0.5, 0.9)])

fig, ax = plt.subplots(figsize=(6.5, 3.2))
for name, trace in curves.items():
    ax.plot(trace, label=name)
ax.set_xlabel("step")
ax.set_ylabel("p(u | q)")
ax.set_ylim(0, 1.02)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# - **Supervised** training pushes $p(u \mid q)$ past 0.5 after 5 steps and past 0.9 after 14 (printed
#   above), and reaches about 0.99 after 100: it always gets the data token.
# - The **mistaken "reward"** drives $p(u)$ *down*: a negative weight on $\nabla \log p$ is gradient
#   descent on the likelihood. There is no sampling in it, so it is not REINFORCE either.
# - **REINFORCE** learns too (on this seed: below 0.1 after 50 steps, 0.97 after 100), but only after
#   the model happens to sample `u`; its signal grows with
#   $p(u)$, so it starts slowly and is noisy. It needs no data token at all — only a reward for what the
#   model itself said. That is exactly why notebooks 04–09 need it, and why it needs baselines, many
#   samples and careful step sizes.
#
# ## Check yourself
#
# - Why does the count-based bigram model use $+\alpha$ smoothing, and what would happen to the
#   validation NLL without it?
# - A model has validation NLL 1.5 nats per character. What are its perplexity and bits per character?
# - Why is the best achievable cross-entropy $H(p)$, and what does the gap to it measure?
# - Why does `log_softmax` subtract $\max_j z_j$? What do `nan` and `-inf` in a naive version come from?
# - With `ignore_index`, what is the denominator of the mean?
# - What is $\partial \mathcal L / \partial z$ for cross-entropy, and when is it zero?
# - In one sentence each: what are the supervised gradient and the REINFORCE gradient, and which
#   tokens does each one take the log-probability of?
#
# **Next:** the bigram model sees one character of context. Notebook 02 builds **attention**, the
# mechanism that lets a model read all previous characters and choose which ones matter.
