# %% [markdown]
# # 00 · Start here: how this course works
#
# **What you will build in the course:** a character-level GPT trained on Shakespeare, and then the
# reinforcement-learning machinery (policy gradients, REINFORCE, TRPO, PPO, learned on a bandit and on
# CartPole-style control tasks), then PPO fine-tuning that same GPT towards a reward — the recipe behind
# RLHF — plus GRPO and RLOO, variants without a value network, and DPO and best-of-n, which need no RL at all.
#
# **In this notebook** you learn how the notebooks, the `lmrl_course` package and the exercises fit
# together, check which device you are on, and solve a warm-up exercise: a numerically stable softmax.
#
# **Learning goals**
# - Run a notebook top to bottom and know what the first cell of every notebook does.
# - Use an exercise: write a function, press **Check**, read the verdict, ask for a **Hint**.
# - See why `softmax` must subtract the maximum before exponentiating.
#
# **Prerequisites:** Python and a first contact with PyTorch tensors.

# %% [markdown]
# ## The course map
#
# | notebook | what you build | working time (a rough guide, not measured) |
# |---|---|---|
# | 00 start here | the exercise system, a stable softmax | 5 min |
# | 01 cross-entropy | counting and neural bigram models, cross-entropy, perplexity, log-sum-exp | 45 min |
# | 02 attention | scaled dot-product attention, causal masks, multi-head attention | 45 min |
# | 02b embeddings and RNNs | what character embeddings and word vectors (Word2Vec's idea) learn; an LSTM cell against `nn.LSTMCell`; the garbled LSTM, measured; an LSTM, a GRU and a small GPT on a 400-step budget of their own (3 seeds) | 45 min |
# | 03 GPT | you build LayerNorm, the transformer block, the forward pass, the AdamW training step and sampling, and train the GPT on Tiny Shakespeare; an LSTM and a GRU beside it; training craft (loss at init, overfitting one batch, lr sweep, init scale, dropout); KV cache; position encodings | 75 min |
# | 04 policy gradients | the RL loop, the log-derivative trick, baselines on a bandit | 45 min |
# | 05 REINFORCE | REINFORCE with a value baseline on CartPole | 45 min |
# | 06 TRPO | natural gradients, Fisher-vector products, conjugate gradient, line search | 60 min |
# | 07 PPO | the clipped surrogate, GAE, PPO's implementation details and an ablation of them over seeds (which ones matter measurably, which do not); the common mistakes, measured; a Gaussian policy on Pendulum | 60 min |
# | 08 RLHF with PPO | a reward model and PPO with a KL penalty on the course's own GPT | 60 min |
# | 09 GRPO and RLOO | value-free policy gradients for language models | 45 min |
# | 10 DPO and best-of-n | DPO on the preference pairs, best-of-n and its KL; five methods on one gold-score-vs-KL figure | 40 min |
#
# Each notebook **builds** a piece from scratch, **checks** it against the package's tested version
# (`lmrl_course`), then **imports** it, so later notebooks stand on code you have seen work.
# The symbols and code names are the same everywhere; they are listed in `NOTATION.md`.

# %% [markdown]
# ## The first cell of every notebook
#
# It fixes everything that would make two runs print different numbers: the random seeds (Python,
# NumPy, PyTorch), the number of CPU threads (a different thread count sums floating-point numbers
# in a different order, and changes the last bits), and PyTorch's deterministic-algorithm flags.
# It also chooses the **device**: CUDA if you have an NVIDIA GPU, else Apple's MPS, else the CPU.
# Set the environment variable `LMRL_DEVICE=cpu` (or `cuda`, `mps`) before starting Jupyter to choose
# yourself. Every model in the course is small enough for a laptop CPU.

# %%
# %matplotlib inline
import torch
import matplotlib.pyplot as plt

from lmrl_course.device import setup_notebook, describe_device

device = setup_notebook(seed=0)

# %%
print(describe_device(device))
x = torch.randn(3, 4, device=device)  # tensors are created on the chosen device
print(x.device.type, tuple(x.shape))

# %% [markdown]
# ## How exercises work
#
# An exercise cell defines a function whose body is `raise NotImplementedError`. Replace that line
# with your code and run the cell. The cell below it calls `check(...)`, which runs your function on
# random inputs and on edge cases, and compares every output with the package's reference version.
# It shows a panel with three buttons:
#
# - **Check** re-runs the checker on the latest version of your function (re-run your cell first);
# - **Hint** reveals one hint at a time, from a nudge to nearly the answer;
# - **Show solution** when you want to compare.
#
# The verdict says exactly what is wrong: which input, the expected and the actual value, and the
# largest absolute error. A half-written function — one that returns `None`, has the wrong shape,
# produces `nan`, raises, or loops forever (it is stopped after a few seconds of CPU time) — gets a
# verdict, never a crashed kernel. Your function runs in a separate copy of the kernel's process (on
# Linux), so nothing it does — `sys.exit()`, changing torch's settings, printing a thousand lines —
# reaches your notebook; what it prints is shown, shortened, in the verdict. It must not change its
# inputs in place, and on float64 inputs it must compute in float64. Until your version passes,
# `result.function` is the reference implementation, so the rest of the notebook always runs; **Check**
# always checks *your* latest definition, even after a later cell has rebound the name to the reference.

# %% [markdown]
# ### Warm-up: a numerically stable softmax
#
# The softmax turns a vector of real-valued scores $z$ (*logits*) into a probability distribution:
#
# $$\mathrm{softmax}(z)_i = \frac{e^{z_i}}{\sum_j e^{z_j}}.$$
#
# Taken literally it breaks: in float32, $e^{89}$ is already `inf`, and `inf / inf` is `nan`.
# Subtracting any constant $c$ from every logit changes nothing, because $e^{-c}$ cancels between
# numerator and denominator:
#
# $$\frac{e^{z_i - c}}{\sum_j e^{z_j - c}} = \frac{e^{-c}\,e^{z_i}}{e^{-c}\sum_j e^{z_j}} = \mathrm{softmax}(z)_i .$$
#
# With $c = \max_j z_j$, every exponent is $\le 0$, so nothing overflows.
#
# **Your turn:** write `stable_softmax(z, dim=-1)` that works along any dimension `dim` of a tensor
# of any shape, keeps the input's dtype, and survives logits like $\pm 10^4$.
# Build it from `exp`, `sum` and `max` (calling `torch.softmax` would skip the point, and the checker
# says so), and keep it differentiable: later notebooks train through a softmax.

# %% tags=["exercise"]
# EXERCISE: stable_softmax
def stable_softmax(z, dim=-1):
    # Replace the next line with your code (about three lines).
    raise NotImplementedError

# %%
from lmrl_course.exercises import check

result = check("stable_softmax", stable_softmax)
result

# %% [markdown]
# From here on the notebook uses `softmax = result.function`: your function once it passes, the
# reference until then.

# %%
softmax = result.function
z = torch.tensor([2.0, 1.0, 0.1])
p = softmax(z)
print("probabilities:", [round(v, 4) for v in p.tolist()], "sum =", round(p.sum().item(), 6))
print("same as torch.softmax:", torch.allclose(p, torch.softmax(z, dim=-1)))

# %% [markdown]
# > **Common mistake: exponentiate first, normalise second.**
# > The literal formula works on small logits and fails silently on large ones. Here both run on
# > the same input, next to PyTorch's own `torch.softmax`:

# %%
def naive_softmax(z, dim=-1):
    e = z.exp()                      # overflows to inf for z > ~88 in float32
    return e / e.sum(dim=dim, keepdim=True)

big = torch.tensor([1000.0, 999.0, 0.0])
print("naive  :", naive_softmax(big).tolist())
print("stable :", [round(v, 4) for v in softmax(big).tolist()])
print("torch  :", [round(v, 4) for v in torch.softmax(big, dim=-1).tolist()])

# %% [markdown]
# The naive version returns `nan` without any warning; the stable one matches PyTorch, because
# PyTorch subtracts the maximum internally too.

# %% [markdown]
# ## Play: logits, temperature and the softmax
#
# Dividing the logits by a **temperature** $\tau$ before the softmax sharpens the distribution
# ($\tau < 1$) or flattens it ($\tau > 1$). Notebook 03 uses exactly this to sample text. Move the
# slider; the caption shows the entropy $H = -\sum_i p_i \log p_i$ (in nats).

# %%
import ipywidgets as widgets
from lmrl_course.widgets import PlotWidget

logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0])


def draw_softmax(fig, temperature):
    probs = softmax(logits / temperature)
    entropy = -(probs * probs.log()).sum().item()
    ax = fig.subplots()
    ax.bar(range(len(probs)), probs.tolist(), color="tab:blue")
    ax.set_ylim(0, 1)
    ax.set_xlabel("token")
    ax.set_ylabel("probability")
    ax.set_title(f"softmax(z / τ), τ = {temperature:.2f}")
    return f"entropy = {entropy:.3f} nats (uniform over 5 would be {torch.log(torch.tensor(5.0)).item():.3f})"


PlotWidget(draw_softmax, {"temperature": widgets.FloatSlider(value=1.0, min=0.1, max=5.0, step=0.1,
                                                             description="τ")})

# %% [markdown]
# ## A figure
#
# Figures are ordinary Matplotlib; every plotting cell calls `plt.show()`.
# Here: the largest probability as a function of temperature for the same logits.

# %%
taus = torch.linspace(0.1, 5.0, 50)
top = [softmax(logits / t).max().item() for t in taus]
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(taus.tolist(), top)
ax.axhline(1 / len(logits), ls="--", c="gray", label="uniform")
ax.set_xlabel("temperature τ")
ax.set_ylabel("max probability")
ax.legend()
plt.show()

# %% [markdown]
# ## Check yourself
#
# - Why does subtracting $\max_j z_j$ leave the softmax unchanged, and why does it prevent overflow?
# - What does `result.function` give you before and after your exercise passes?
# - What happens to the softmax as $\tau \to 0$? As $\tau \to \infty$?
#
# **Next:** notebook 01 turns probabilities into a training signal — cross-entropy — and trains the
# first language model of the course.
