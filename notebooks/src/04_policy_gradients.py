# %% [markdown]
# # 04 · Policy gradients: learning from a reward instead of a label
#
# **What you will build:** the gradient that every RL method of this course (REINFORCE, TRPO, PPO,
# and the RLHF capstone) is made of. You derive the *log-derivative trick*, check it numerically on a
# bandit whose exact gradient we know, measure how noisy it is, and cut that noise with a *baseline*.
#
# **Learning goals**
# - Name the pieces of the RL loop — state, action, reward, return, policy — and see that a language
#   model choosing its next token is exactly such a loop.
# - Derive $\nabla_\theta \mathbb{E}_{a\sim\pi_\theta}[R(a)] = \mathbb{E}[R(a)\,\nabla_\theta \log \pi_\theta(a)]$ and
#   check that the sample estimate converges to the exact gradient at rate $1/\sqrt{n}$.
# - Show that a constant baseline leaves the gradient's mean unchanged and that a well-chosen one
#   shrinks its variance ($b \approx J$ halves it here; a bad one inflates it) — and that a baseline
#   computed from the same batch must leave each sample out (RLOO) to stay unbiased.
# - Extend the derivation to whole episodes: $R(\tau)\sum_t\nabla\log\pi$, then reward-to-go by causality.
# - Explain why a policy-gradient "loss" has no meaning beyond its gradient.
#
# **Prerequisites:** notebook 01 (cross-entropy, `log_softmax`), notebook 03 (a GPT's next-token
# distribution). Reading time about 45 minutes.

# %%
# %matplotlib inline
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from lmrl_course.device import setup_notebook, seed_everything

device = setup_notebook(seed=0)
plt.rcParams["figure.dpi"] = 80          # keeps the stored notebook small

# %% [markdown]
# ## 1 · The RL loop, and why a language model is already in it
#
# An **agent** observes a state $s_t$ (`obs`), picks an action $a_t$ (`action`) by sampling from its
# **policy** $\pi_\theta(a \mid s)$, and the **environment** answers with a reward $r_t$ (`reward`) and the
# next state. The agent's goal is a large **return**: the discounted sum of rewards
# $G_t = \sum_{k\ge 0}\gamma^k r_{t+k}$ (`returns`, discount `gamma`). Nobody tells the agent which action
# was right — only how good the outcome was.
#
# | RL | a GPT generating text (notebook 03) |
# |---|---|
# | state $s_t$ | the prompt plus the tokens generated so far, $x_{\le t}$ |
# | action $a_t$ | the next token $x_{t+1}$ |
# | policy $\pi_\theta(a\mid s)$ | the next-token distribution $p_\theta(x_{t+1}\mid x_{\le t}) = \mathrm{softmax}(z)$ |
# | `logp` $=\log\pi_\theta(a\mid s)$ | `log_softmax(logits)[token]`, the quantity cross-entropy used |
# | reward $r$ | a score of the finished text (a human, a classifier, a unit test) |
#
# In notebook 03 we *imitated* labels: raise $\log p_\theta$ of the token Shakespeare wrote. In RL there
# is no label, only a reward for what the model itself sampled. Here is a (tiny, untrained) GPT
# acting as a policy: it is in state "the prompt", samples an action, and we read off its `logp`.

# %%
from lmrl_course.data import CharTokenizer
from lmrl_course.gpt import GPT, GPTConfig

seed_everything(0)
tokenizer = CharTokenizer.from_text("abcdefghijklmnopqrstuvwxyz ")
gpt = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=32))

obs = torch.tensor([tokenizer.encode("to be or no")])          # (1, T): the state
logits, _ = gpt(obs)                                          # (1, T, V)
policy = torch.distributions.Categorical(logits=logits[0, -1])  # π_θ(· | s): next-token distribution
action = policy.sample()                                      # a ~ π_θ(· | s)
logp = policy.log_prob(action)                                # log π_θ(a | s)
print("state  :", repr(tokenizer.decode(obs[0].tolist())))
print("action :", repr(tokenizer.decode([action.item()])), f"  logp = {logp.item():.3f}",
      f"  (uniform would be {-math.log(tokenizer.vocab_size):.3f})")

# %% [markdown]
# Suppose the reward is $1$ when the sampled character is a vowel and $0$ otherwise. How should we
# change $\theta$ so that the *expected* reward goes up? We cannot differentiate through `sample()`
# (an integer), nor through the reward (a black box). The rest of this notebook answers that question,
# and at the end we use the answer to teach this GPT to prefer vowels.

# %% [markdown]
# ## 2 · The log-derivative trick
#
# **Objective.** $J(\theta) = \mathbb{E}_{a\sim\pi_\theta}[R(a)] = \sum_a \pi_\theta(a)\,R(a)$.
#
# **Derivation.** Only $\pi_\theta$ depends on $\theta$; then use $\nabla \pi = \pi\,\nabla\log\pi$
# (the chain rule for $\log$, read backwards):
#
# $$\nabla_\theta J = \sum_a R(a)\,\nabla_\theta \pi_\theta(a) = \sum_a R(a)\,\pi_\theta(a)\,\nabla_\theta\log\pi_\theta(a)
#   = \mathbb{E}_{a\sim\pi_\theta}\big[R(a)\,\nabla_\theta \log\pi_\theta(a)\big].$$
#
# An expectation can be estimated by sampling, so with $a_1..a_n \sim \pi_\theta$:
#
# $$\hat g = \frac1n\sum_{i=1}^n R(a_i)\,\nabla_\theta\log\pi_\theta(a_i), \qquad \mathbb{E}[\hat g] = \nabla_\theta J.$$
#
# $\nabla_\theta\log\pi_\theta(a)$ is called the **score**. We never need $\nabla R$: the reward can be a
# black box. For a softmax policy over logits $z$ (the bandit below, or a GPT's last layer) the score is
#
# $$\nabla_z \log\mathrm{softmax}(z)_a = \mathrm{onehot}(a) - \mathrm{softmax}(z),$$
#
# the same "prediction minus target" vector as the gradient of cross-entropy in notebook 01, with the
# opposite sign and weighted by the reward.
#
# ### From one action to a whole episode
#
# In a multi-step episode $\tau = (s_0, a_0, r_0, s_1, a_1, r_1, \dots)$ the objective is
# $J(\theta) = \mathbb{E}_\tau[R(\tau)]$ with the discounted return $R(\tau) = \sum_t \gamma^t r_t$. The same
# derivation, applied to the probability of the whole trajectory
# $p_\theta(\tau) = p(s_0)\prod_t \pi_\theta(a_t\mid s_t)\,p(s_{t+1}\mid s_t, a_t)$, uses
# $\nabla\log p_\theta(\tau) = \sum_t\nabla\log\pi_\theta(a_t\mid s_t)$ (the environment's transition
# probabilities do not depend on $\theta$, so their logs drop out) and gives
#
# $$\nabla_\theta J = \mathbb{E}_\tau\Big[R(\tau)\sum_t \nabla_\theta\log\pi_\theta(a_t\mid s_t)\Big]:$$
#
# every action is weighted by the return of the *whole* episode, rewards before it included.
#
# **Reward-to-go needs one more argument: causality.** An action cannot change rewards that came
# before it. For $k < t$, condition on everything up to $s_t$: then $r_k$ is fixed, and the score of
# $a_t$ has mean zero, $\mathbb{E}_{a_t\sim\pi(\cdot\mid s_t)}[\nabla\log\pi_\theta(a_t\mid s_t)] = 0$ (shown in
# section 3), so $\mathbb{E}[\gamma^k r_k\,\nabla\log\pi_\theta(a_t\mid s_t)] = 0$. Dropping these terms leaves
# the same expectation, and usually less noise (not measured here):
#
# $$\nabla_\theta J = \mathbb{E}_\tau\Big[\sum_t \nabla_\theta\log\pi_\theta(a_t\mid s_t)\sum_{k\ge t}\gamma^k r_k\Big]
#   = \mathbb{E}_\tau\Big[\sum_t \gamma^t\,G_t\,\nabla_\theta\log\pi_\theta(a_t\mid s_t)\Big],
#   \qquad G_t = \sum_{k\ge t}\gamma^{k-t} r_k .$$
#
# **The $\gamma^t$ that practice drops.** Notebook 05, the package and almost every implementation use
# $\sum_t G_t\,\nabla\log\pi_\theta(a_t\mid s_t)$, without the factor $\gamma^t$. That is *not* the gradient of the
# discounted objective above: it weights a late action as much as an early one. Read it as the
# (approximate) gradient of the undiscounted return, with $\gamma < 1$ inside $G_t$ used only to
# cut the noise from far-away rewards. The name for this estimator is *REINFORCE with reward-to-go*.

# %% [markdown]
# ### The testbed: a three-armed bandit
#
# A bandit is RL with one state and one step: pull an arm $a$, get a reward with mean $\mu_a$. The package
# has one as a Gymnasium environment, `MultiArmedBandit` (Bernoulli rewards). Because we know $\mu$,
# we know the exact gradient: with $p = \mathrm{softmax}(z)$,
#
# $$J(z) = \sum_a p_a\mu_a, \qquad \nabla_z J = \sum_a p_a\mu_a(\mathrm{onehot}(a) - p) = p\odot(\mu - J).$$
#
# Here is the loop: policy → action → environment → reward.

# %%
from lmrl_course.rl.envs import MultiArmedBandit

means = torch.tensor([0.2, 0.5, 0.8])
env = MultiArmedBandit(means=means.tolist())
bandit_obs, info = env.reset(seed=0)
logits = torch.zeros(3)                       # θ: the policy's three logits, uniform to start
seed_everything(0)
for t in range(5):
    action = torch.distributions.Categorical(logits=logits).sample()
    bandit_obs, reward, terminated, truncated, info = env.step(action.item())
    print(f"step {t}: action = arm {action.item()}, reward = {reward:.0f}, terminated = {terminated}")


def exact_gradient(logits, means):
    """∇_z Σ_a softmax(z)_a μ_a = p ⊙ (μ − J)."""
    p = torch.softmax(logits, dim=-1)
    return p * (means - (p * means).sum())


print("exact gradient at z = 0:", [round(v, 4) for v in exact_gradient(logits, means).tolist()])

# %% [markdown]
# ### Exercise: the score-function estimate
#
# Write `score_function_gradient(logits, actions, rewards)`: given the logits $z$ `(k,)`, $n$ sampled
# `actions` `(n,)` and their `rewards` `(n,)`, return $\hat g = \frac1n\sum_i r_i(\mathrm{onehot}(a_i) - \mathrm{softmax}(z))$,
# shape `(k,)`, in the dtype of `logits`.

# %% tags=["exercise"]
# EXERCISE: score_function_gradient
def score_function_gradient(logits, actions, rewards):
    # Replace the next line with your code (about four lines).
    raise NotImplementedError

# %%
from lmrl_course.exercises import check

result = check("score_function_gradient", score_function_gradient)
result

# %% [markdown]
# **Check it against autograd.** The score is a gradient, so autograd can produce the same estimate
# from a *surrogate loss* $L(z) = -\frac1n\sum_i r_i \log\pi_z(a_i)$, with the rewards held constant:
# $-\nabla_z L = \hat g$. This is how every policy-gradient method is implemented in practice; the package's
# `reinforce_loss(logp, advantages)` is exactly this loss.

# %%
score_fn = result.function
seed_everything(1)
actions = torch.distributions.Categorical(logits=torch.zeros(3)).sample((64,))
rewards = torch.bernoulli(means[actions])             # the bandit's Bernoulli rewards, batched
from lmrl_course.rl.reinforce import reinforce_loss     # the package's surrogate loss: −mean(logp · Â)

z = torch.zeros(3, requires_grad=True)
surrogate = reinforce_loss(torch.log_softmax(z, dim=-1)[actions], rewards)
surrogate.backward()
print("by hand :", [round(v, 5) for v in score_fn(torch.zeros(3), actions, rewards).tolist()])
print("autograd:", [round(v, 5) for v in (-z.grad).tolist()])
print("equal   :", torch.allclose(score_fn(torch.zeros(3), actions, rewards), -z.grad, atol=1e-6))

# %% [markdown]
# Above we drew the rewards with `torch.bernoulli(means[actions])` — the same distribution as
# `env.step` — because a batch of thousands of pulls is much faster as one tensor operation than as a
# Python loop over `env.step`.
#
# ### Does $\hat g$ converge to $\nabla J$?
#
# Unbiasedness means: average many estimates and you get the exact gradient; one estimate from $n$
# samples has error of order $1/\sqrt n$ (the central limit theorem). We measure
# $\lVert\hat g - \nabla J\rVert$ over 300 independent repetitions for each $n$, at a non-uniform policy,
# and plot the mean with a ±2 standard-error band.

# %%
def sample_bandit(logits, means, n, reps):
    """`reps` independent batches of `n` pulls: actions (reps, n) and Bernoulli rewards (reps, n)."""
    actions = torch.distributions.Categorical(logits=logits).sample((reps, n))
    return actions, torch.bernoulli(means[actions])


z0 = torch.tensor([0.5, 0.0, -0.5])
g_exact = exact_gradient(z0, means)

# %% tags=["solutions-skip"]
seed_everything(2)
sizes = [4, 16, 64, 256, 1024, 4096]
reps = 300
err_mean, err_se, g_avg, g_se = [], [], [], []
for n in sizes:
    actions, rewards = sample_bandit(z0, means, n, reps)
    g_hat = torch.stack([score_fn(z0, a, r) for a, r in zip(actions, rewards)])   # (reps, k)
    err = (g_hat - g_exact).norm(dim=-1)                                            # (reps,)
    err_mean.append(err.mean().item())
    err_se.append(err.std().item() / math.sqrt(reps))
    g_avg.append(g_hat.mean(dim=0))
    g_se.append(g_hat.std(dim=0) / math.sqrt(reps))                                  # standard error of the mean
err_mean, err_se = np.array(err_mean), np.array(err_se)

fig, ax = plt.subplots(figsize=(5.5, 3.4))
ax.plot(sizes, err_mean, "o-", label=r"$\|\hat g - \nabla J\|$ (mean of 300)")
ax.fill_between(sizes, err_mean - 2 * err_se, err_mean + 2 * err_se, alpha=0.3, label="±2 standard errors")
ax.plot(sizes, err_mean[0] * np.sqrt(sizes[0] / np.array(sizes)), "k--", lw=1, label=r"$\propto 1/\sqrt{n}$")
ax.set_xscale("log"); ax.set_yscale("log")
ax.set_xlabel("samples per estimate n"); ax.set_ylabel("error")
ax.set_title("The score-function estimate converges to the exact gradient")
ax.legend()
plt.show()
print("exact gradient            :", [round(v, 4) for v in g_exact.tolist()])
print("mean of 300 estimates, n=4:", [round(v, 4) for v in g_avg[0].tolist()],
      " standard errors:", [round(v, 4) for v in g_se[0].tolist()])
print("|mean - exact| / standard error:", [round(v, 1) for v in ((g_avg[0] - g_exact).abs() / g_se[0]).tolist()])
print("slope of log(error) vs log(n):", round(np.polyfit(np.log(sizes), np.log(err_mean), 1)[0], 2),
      "(1/sqrt(n) would be -0.5)")

# %% [markdown]
# The error falls on the $1/\sqrt n$ line, and even the estimates from only 4 samples average to the
# exact gradient, within about one standard error of the mean in each component: the estimator is
# **unbiased** but **noisy**. Noise is the enemy of everything that
# follows.

# %% [markdown]
# ## 3 · Baselines: same mean, less variance
#
# Every bandit reward here is 0 or 1, never negative, so no sampled action is ever pushed *down*;
# only the relative sizes of the pushes carry information. Subtract a constant $b$ from the rewards:
#
# $$\hat g_b = \frac1n \sum_i (r_i - b)\,\nabla\log\pi_\theta(a_i).$$
#
# The mean does not change, because the score has mean zero:
# $\mathbb{E}_a[\nabla\log\pi_\theta(a)] = \sum_a \pi_\theta(a)\frac{\nabla\pi_\theta(a)}{\pi_\theta(a)} = \nabla\sum_a\pi_\theta(a) = \nabla 1 = 0.$
# The variance does change: below, a good and simple choice, $b \approx \mathbb{E}[R] = J$ (the
# average reward), roughly halves it. In multi-step RL the baseline may depend on the state — the
# value $V(s)$ — which is what notebook 05 learns.
#
# ### Exercise: a baseline
#
# Write `score_function_gradient_with_baseline(logits, actions, rewards, baseline)`: given the logits
# $z$ `(k,)`, $n$ sampled `actions` `(n,)`, their `rewards` `(n,)` and a scalar tensor `baseline` $b$,
# return $\hat g_b = \frac1n\sum_i (r_i - b)(\mathrm{onehot}(a_i) - \mathrm{softmax}(z))$, shape `(k,)`, in the
# dtype of `logits` (the checker includes float64 inputs, and large logits such as $(120, -50, 0)$
# with $b = -2$: use a stable softmax). Do not modify the inputs in place.

# %% tags=["exercise"]
# EXERCISE: score_function_gradient_with_baseline
def score_function_gradient_with_baseline(logits, actions, rewards, baseline):
    # Replace the next line with your code (one to four lines).
    raise NotImplementedError

# %%
result_b = check("score_function_gradient_with_baseline", score_function_gradient_with_baseline)
result_b

# %% [markdown]
# Now measure it. For each baseline we compute 2000 estimates from $n = 16$ samples each, and report
# the mean estimate (it should match the exact gradient for every $b$), the total variance
# $\mathbb{E}\lVert\hat g_b - \mathbb{E}\hat g_b\rVert^2$, and how often an estimate points the right way (a
# positive cosine with $\nabla J$). Four baselines are the obvious ones; the fifth is the constant that
# minimises the variance. With $s_a = \mathrm{onehot}(a) - p$ and $\sigma_a^2 = \mu_a(1-\mu_a)$, one sample has
# $\mathbb{E}\lVert(r-b)s_a\rVert^2 = \sum_a p_a\lVert s_a\rVert^2\big(\sigma_a^2 + (\mu_a - b)^2\big)$, smallest at the
# *weighted* mean $b^* = \sum_a p_a w_a\mu_a / \sum_a p_a w_a$ with $w_a = \lVert s_a\rVert^2$ — not at $J$.

# %%
baseline_fn = result_b.function
seed_everything(3)
actions, rewards = sample_bandit(z0, means, 16, 2000)
p0 = torch.softmax(z0, -1)
J0 = (p0 * means).sum().item()
w = (torch.eye(3) - p0).pow(2).sum(-1)                                   # w_a = ‖onehot(a) − p‖², (k,)
b_star = ((p0 * w * means).sum() / (p0 * w).sum()).item()                # the variance-minimising constant


def exact_total_variance(b):
    """Σ_a p_a w_a (σ_a² + (μ_a − b)²) − ‖∇J‖², divided by n = 16: the variance of ĝ_b, exactly."""
    second_moment = (p0 * w * (means * (1 - means) + (means - b) ** 2)).sum()
    return ((second_moment - g_exact @ g_exact) / 16).item()


print(f"J = {J0:.3f}, w = {[round(v, 3) for v in w.tolist()]}, variance-optimal b* = {b_star:.3f}")
rows = []
for name, b in [("none (b = 0)", 0.0), ("b = E[R] = J (exact)", J0), ("b = 1 (too large)", 1.0),
                ("b = -1 (wrong sign)", -1.0), ("b = b* (optimal)", b_star)]:
    g_hat = torch.stack([baseline_fn(z0, a, r, torch.tensor(b)) for a, r in zip(actions, rewards)])  # (2000, k)
    var = (g_hat - g_hat.mean(0)).pow(2).sum(-1).mean().item()
    z_err = ((g_hat.mean(0) - g_exact).abs() / (g_hat.std(0) / math.sqrt(len(g_hat)))).max().item()
    right_way = (F.cosine_similarity(g_hat, g_exact.expand_as(g_hat), dim=-1) > 0).float().mean().item()
    rows.append((name, g_hat.mean(0), var, exact_total_variance(b), z_err, right_way))
print(f"{'baseline':21s} {'mean of estimates':24s} {'variance':>8s} {'(exact)':>8s}  {'max |mean−exact|/s.e.':>21s}"
      f"  {'cosine > 0':>10s}")
print(f"{'exact gradient':21s} {str([round(v, 3) for v in g_exact.tolist()]):24s}")
for name, m, var, var_exact, z_err, right_way in rows:
    print(f"{name:21s} {str([round(v, 3) for v in m.tolist()]):24s} {var:8.5f} {var_exact:8.5f}  {z_err:21.1f}"
          f"  {right_way:10.1%}")
print(f"variance ratio, none / (b = J): {rows[0][2] / rows[1][2]:.1f}x;  (b = -1) / none: {rows[3][2] / rows[0][2]:.1f}x")

fig, ax = plt.subplots(figsize=(6, 3))
ax.bar([r[0].replace(" (", "\n(") for r in rows], [r[2] for r in rows],
       color=["tab:gray", "tab:green", "tab:orange", "tab:red", "tab:blue"])
ax.set_ylabel("total variance of ĝ (n = 16)")
ax.set_title("Same mean, different variance")
ax.tick_params(axis="x", labelsize=8)
plt.show()

# %% [markdown]
# Every baseline leaves the mean on the exact gradient (each component within about two standard
# errors of the mean), but the variance changes several-fold, and the measured variances sit on the
# exact ones. Of the four obvious choices $b = J = 0.404$ is best (it halves the variance: 2.0×);
# $b = 1$ changes nothing here (it lies as far above $b^*$ as $b = 0$ lies below) and $b = -1$ makes it
# about five times worse than no baseline. The variance-optimal constant is the weighted mean
# $b^* \approx 0.50$, not $J$, and it is only slightly better than $J$ (0.0085 against 0.0089). Equal
# means, different noise; the last column shows what that does to single estimates: 91 % of them
# point within 90° of the true gradient without a baseline, 97 % with $b = J$, 70 % with $b = -1$.

# %% [markdown]
# ### A baseline from the same batch: leave each sample out (RLOO)
#
# We rarely know $J$, so the obvious move is to use the batch's own average reward
# $\bar r = \frac1n\sum_j r_j$ as the baseline. That is **not** a constant: $\bar r$ contains $r_i$, the
# reward of the very sample it is subtracted from. Split it: for $j \ne i$ the pull $j$ is independent
# of $a_i$, so $\mathbb{E}[r_j\nabla\log\pi(a_i)] = \mathbb{E}[r_j]\,\mathbb{E}[\nabla\log\pi(a_i)] = 0$; only the
# $r_i/n$ part survives, and
#
# $$\mathbb{E}\big[(r_i - \bar r)\,\nabla\log\pi(a_i)\big] = \Big(1 - \frac1n\Big)\,\nabla J .$$
#
# The batch-mean estimate is biased: it points the right way but is $1/n$ too short (25 % with $n = 4$).
# The fix keeps the idea and removes the dependence: give sample $i$ the average of the *other*
# $n-1$ rewards, $b_i = \frac{1}{n-1}\sum_{j\ne i} r_j$, which is independent of $a_i$. This is the
# **leave-one-out baseline**, and the estimator is called **RLOO** (REINFORCE leave-one-out; notebook 09
# uses it to fine-tune a language model). Algebra makes it cheap: $r_i - b_i = \frac{n}{n-1}(r_i - \bar r)$.
#
# Measured below: the mean of 200,000 estimates with $n = 4$ for each choice, against the exact
# gradient, with standard errors.

# %%
def batch_mean_advantages(rewards):
    """r_i − mean_j r_j over the last dim: the batch average includes r_i itself (biased by 1 − 1/n)."""
    return rewards - rewards.mean(-1, keepdim=True)


def leave_one_out_advantages(rewards):
    """r_i − mean_{j≠i} r_j = n/(n−1) · (r_i − mean_j r_j): the RLOO baseline (unbiased)."""
    n = rewards.shape[-1]
    return rewards - (rewards.sum(-1, keepdim=True) - rewards) / (n - 1)


seed_everything(9)
reps, n = 200_000, 4
actions, rewards = sample_bandit(z0, means, n, reps)                          # (reps, n)
score = F.one_hot(actions, 3).float() - torch.softmax(z0, -1)                 # ∇_z log π(a_i), (reps, n, k)
print(f"exact gradient ∇J                   : {[round(v, 4) for v in g_exact.tolist()]}")
for name, adv_fn in [("no baseline", lambda r: r), ("batch mean, includes r_i", batch_mean_advantages),
                     ("leave-one-out (RLOO)", leave_one_out_advantages)]:
    g_hat = (adv_fn(rewards).unsqueeze(-1) * score).mean(1)                   # ĝ of each batch, (reps, k)
    mean, se = g_hat.mean(0), g_hat.std(0) / math.sqrt(reps)
    ratio = (mean @ g_exact / (g_exact @ g_exact)).item()                     # projection of the mean on ∇J
    print(f"{name:25s}: mean {[round(v, 4) for v in mean.tolist()]} ± {[round(v, 4) for v in se.tolist()]}"
          f"  -> {ratio:.3f} × ∇J")
print(f"1 − 1/n = {1 - 1 / n:.3f}")

# %% [markdown]
# The batch-mean baseline lands at about $0.75\,\nabla J$, many standard errors away from the exact
# gradient; leave-one-out and no baseline land on it. With $n = 16$ the shrinkage is 6 %, with $n = 64$
# under 2 % — small, but a systematic error that averaging more batches never removes (only larger
# batches shrink it). Sections 4-6 use RLOO.

# %% [markdown]
# ## 4 · The loss means nothing (beyond its gradient)
#
# In supervised learning the loss is a number you watch: cross-entropy going down means the model is
# getting better. The policy-gradient surrogate $L = -\frac1n\sum_i r_i\log\pi_\theta(a_i)$ is different.
# It was built so that its **gradient** is the policy gradient *at the current* $\theta$ on *these*
# samples — nothing more. Its value
#
# - changes when you add a constant to all rewards (a baseline shift), although the expected gradient
#   does not;
# - is computed on samples that change at every step, so two values are not comparable;
# - is on a different scale with and without a baseline, for the same policy.
#
# Below: train the bandit policy and log both the surrogate loss and the thing we actually care about,
# the expected reward $J$.

# %%
def train_bandit(means, lr=0.5, steps=150, batch=16, baseline=False, seed=0):
    """Plain gradient ascent with the score-function estimate; returns probs, J and loss per step."""
    gen = seed_everything(seed)
    z = torch.zeros(len(means))
    probs_hist, J_hist, loss_hist = [], [], []
    for _ in range(steps):
        p = torch.softmax(z, -1)
        actions = torch.multinomial(p, batch, replacement=True, generator=gen)   # (batch,)
        rewards = torch.bernoulli(means[actions], generator=gen)                  # (batch,)
        adv = leave_one_out_advantages(rewards) if baseline else rewards          # RLOO baseline, or none
        loss = -(adv * torch.log_softmax(z, -1)[actions]).mean()                  # the surrogate (monitoring only)
        z = z + lr * score_fn(z, actions, adv)                                    # ascent step with ĝ
        probs_hist.append(p); J_hist.append((p * means).sum().item()); loss_hist.append(loss.item())
    return torch.stack(probs_hist), np.array(J_hist), np.array(loss_hist)


seeds = [4, 5, 6, 7, 8]
curves = {}
for name, baseline in [("no baseline", False), ("RLOO baseline", True)]:
    runs = [train_bandit(means, baseline=baseline, seed=sd) for sd in seeds]
    curves[name] = (np.stack([r[1] for r in runs]), np.stack([r[2] for r in runs]))   # J, loss: (seeds, steps)
fig, ax = plt.subplots(1, 2, figsize=(9, 3))
for name, (J, L) in curves.items():
    for a, y in zip(ax, (J, L)):
        a.plot(y.mean(0), label=name)
        a.fill_between(np.arange(y.shape[1]), y.min(0), y.max(0), alpha=0.25)
ax[0].set_title("expected reward J (what we want)"); ax[0].set_xlabel("step")
ax[0].legend(title=f"mean, min-max over {len(seeds)} seeds", fontsize=8, title_fontsize=8)
ax[1].set_title("surrogate loss (what the optimiser sees)"); ax[1].set_xlabel("step"); ax[1].legend(fontsize=8)
plt.show()
for name, (J, L) in curves.items():
    print(f"{name:13s}: J {J[:, 0].mean():.3f} -> {J[:, -1].mean():.3f} (seeds {J[:, -1].min():.3f}-{J[:, -1].max():.3f}); "
          f"surrogate loss {L[:, :10].mean():.3f} (first 10 steps) -> {L[:, -10:].mean():.3f} (last 10)")
seed_everything(5)
a16 = torch.multinomial(torch.ones(3) / 3, 16, replacement=True)
r16 = torch.bernoulli(means[a16])
lp = torch.log_softmax(torch.zeros(3), -1)[a16]
print(f"same samples, rewards r   : loss = {-(r16 * lp).mean().item():.3f}")
print(f"same samples, rewards r+10: loss = {-((r16 + 10) * lp).mean().item():.3f}  (same expected gradient)")

# %% [markdown]
# On all five seeds both versions improve the policy about equally (final $J$ between 0.78 and 0.79).
# Both losses fall, but they live on different scales: without a baseline the loss shrinks from
# about 0.55 to 0.09 (only because a confident policy has $\log\pi \to 0$, not because it is "fitting"
# anything), with the baseline it stays near zero (from about −0.03 to −0.07). Its value also changes
# with a reward shift: on the same 16 samples, adding 10 to every reward moves the loss from 0.41 to
# 11.40 and the expected gradient not at all. So its value is no measure of $J$: it depends on the baseline
# and on a shift of the rewards. Track returns, not the surrogate. (This is one reason notebook 07 watches the
# KL and the clip fraction rather than the loss.)

# %% [markdown]
# > **Common mistake: dropping the log.** It is tempting to write the loss as $-r\cdot\pi_\theta(a)$ —
# > "push up the probability of rewarded actions" — instead of $-r\cdot\log\pi_\theta(a)$. Its gradient is
# > $\nabla\pi = \pi\,\nabla\log\pi$: every sample is weighted by an extra factor $\pi_\theta(a)$, so
# > actions the policy already likes get pushed harder and rare good actions get little or no push (below,
# > the best arm's component even has the wrong sign). Its
# > expectation is $\sum_a \pi_a\mu_a\nabla\pi_a = \nabla\,\tfrac12\sum_a\mu_a\pi_a^2$: it is an *unbiased* estimate
# > of the gradient of a **different objective**, and so a **biased** estimate of $\nabla J$. Both run
# > below on the same samples, at a policy that prefers the worst arm, next to the exact gradients of
# > both objectives, and at the uniform policy:

# %%
seed_everything(6)
z_bad = torch.tensor([2.0, 0.0, -1.0])                 # mostly pulls arm 0 (mean 0.2)
g_true = exact_gradient(z_bad, means)
actions, rewards = sample_bandit(z_bad, means, 4096, 1)
actions, rewards = actions[0], rewards[0]
z = z_bad.clone().requires_grad_(True)
loss_right = -(rewards * torch.log_softmax(z, -1)[actions]).mean()      # log-probabilities: correct
g_right, = torch.autograd.grad(loss_right, z)
loss_wrong = -(rewards * torch.softmax(z, -1)[actions]).mean()          # probabilities: the mistake
g_wrong, = torch.autograd.grad(loss_wrong, z)
cos = lambda u, v: F.cosine_similarity(u, v, dim=0).item()
print("exact gradient       :", [round(v, 4) for v in g_true.tolist()])
print("with log π (right)   :", [round(v, 4) for v in (-g_right).tolist()], f" cosine to exact = {cos(-g_right, g_true):.3f}")
print("with π     (mistake) :", [round(v, 4) for v in (-g_wrong).tolist()], f" cosine to exact = {cos(-g_wrong, g_true):.3f}")


def grad_half_mu_pi_squared(z):
    """The exact ∇_z ½ Σ_a μ_a π_a², by autograd: what the mistaken estimator is unbiased for."""
    z = z.clone().requires_grad_(True)
    return torch.autograd.grad(0.5 * (means * torch.softmax(z, -1) ** 2).sum(), z)[0]


g_other = grad_half_mu_pi_squared(z_bad)
print("exact ∇ ½Σμπ²        :", [round(v, 4) for v in g_other.tolist()],
      f" cosine to the mistake's estimate = {cos(-g_wrong, g_other):.3f}")
z_uniform = torch.zeros(3)
g_other_u, g_true_u = grad_half_mu_pi_squared(z_uniform), exact_gradient(z_uniform, means)
print(f"at the uniform policy: cosine(∇ ½Σμπ², ∇J) = {cos(g_other_u, g_true_u):.3f}, "
      f"length ratio = {(g_other_u.norm() / g_true_u.norm()).item():.3f}")

# %% [markdown]
# With 4096 samples the log version sits on the exact gradient (cosine 1). The probability version
# sits on the gradient of the other objective $\tfrac12\sum_a\mu_a\pi_a^2$, which at this policy points
# *opposite* to $\nabla J$ (cosine −0.99): its extra factor $\pi_\theta(a)$ makes the frequent, bad arm 0
# dominate, so the update would push the policy further towards the worst arm. More data does not
# help: it converges to the wrong vector. At the uniform policy the two happen to be parallel, the
# wrong one a third as long — so checking only the direction at a uniform start would not catch it.

# %% [markdown]
# ## 5 · Play: the bandit explorer
#
# Set the arm means, the learning rate and whether a baseline is used (RLOO, leave-one-out), and
# watch the policy's probabilities move over 150 steps of plain score-function ascent (16 pulls per
# step, same random seed every time). Things to try: make two arms nearly equal (e.g. 0.3, 0.3, 0.35) and
# raise the learning rate: from about lr ≈ 6 the policy can commit to a worse arm (with the default means it
# finds the best arm at every learning rate of the slider); compare the wobble with and without the baseline
# when all means are high (e.g. 0.8, 0.85, 0.9).

# %%
import ipywidgets as widgets
from lmrl_course.widgets import PlotWidget


def draw_bandit(fig, mu0, mu1, mu2, lr, baseline):
    mu = torch.tensor([mu0, mu1, mu2])
    probs, J, _ = train_bandit(mu, lr=lr, steps=150, batch=16, baseline=baseline, seed=7)
    ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    for a in range(3):
        ax[0].plot(probs[:, a].numpy(), label=f"arm {a} (μ = {mu[a].item():.2f})")
    ax[0].set_ylim(0, 1); ax[0].set_xlabel("step"); ax[0].set_ylabel("π(a)"); ax[0].legend(fontsize=7)
    ax[0].set_title("policy probabilities" + (" (baseline on)" if baseline else " (no baseline)"), fontsize=9)
    ax[1].plot(J, c="tab:green"); ax[1].axhline(mu.max().item(), ls="--", c="gray")
    ax[1].set_ylim(0, 1); ax[1].set_title("expected reward J", fontsize=9); ax[1].set_xlabel("step")
    return f"after 150 steps: π = {[round(v, 3) for v in probs[-1].tolist()]}, J = {J[-1]:.3f} (best {mu.max().item():.2f})"


slider = lambda v, d: widgets.FloatSlider(value=v, min=0.0, max=1.0, step=0.05, description=d)
PlotWidget(draw_bandit, {"mu0": slider(0.2, "μ arm 0"), "mu1": slider(0.5, "μ arm 1"), "mu2": slider(0.8, "μ arm 2"),
                         "lr": widgets.FloatLogSlider(value=0.5, base=10, min=-2, max=1.5, step=0.1, description="lr"),
                         "baseline": widgets.Checkbox(value=False, description="baseline")},
           figsize=(8, 3))

# %% [markdown]
# ## 6 · Back to the language model
#
# Everything above carries over with "arm" replaced by "next character". We train the tiny GPT from
# section 1 with the score-function estimate and a baseline so that, after the prompt, it prefers
# vowels (reward 1 for a vowel, 0 otherwise). This is the skeleton of RL fine-tuning of a language
# model: sample from the model, score the samples, raise $\log p_\theta$ of the good ones.

# %%
seed_everything(8)
vowels = torch.tensor([tokenizer.encode(c)[0] for c in "aeiou"])
is_vowel = torch.zeros(tokenizer.vocab_size)
is_vowel[vowels] = 1.0
optimizer = torch.optim.Adam(gpt.parameters(), lr=3e-3)
p_vowel = []
for step in range(40):
    logits = gpt(obs)[0][0, -1]                                          # (V,) next-token logits
    policy = torch.distributions.Categorical(logits=logits)
    actions = policy.sample((32,))                                       # 32 sampled next characters
    rewards = is_vowel[actions]                                          # the reward of each
    advantages = leave_one_out_advantages(rewards)                       # RLOO: the others' average reward
    loss = -(advantages * policy.log_prob(actions)).mean()               # the surrogate: only its gradient matters
    optimizer.zero_grad(); loss.backward(); optimizer.step()
    p_vowel.append(policy.probs[vowels].sum().item())
fig, ax = plt.subplots(figsize=(5, 2.8))
ax.plot(p_vowel); ax.set_xlabel("update"); ax.set_ylabel("P(next char is a vowel)")
ax.set_title("A GPT trained by policy gradient, not by labels")
plt.show()
print(f"P(vowel | 'to be or no'): {p_vowel[0]:.3f} -> {p_vowel[-1]:.3f}")

# %% [markdown]
# No label ever said *which* vowel; the model only heard "good" or "bad" about its own samples.

# %% [markdown]
# ## Check yourself
#
# - Write the log-derivative trick in one line. Why does it need no gradient of the reward?
# - For a softmax policy, what is $\nabla_z\log\pi(a)$? Where have you met that vector before?
# - Why is $\mathbb{E}_a[\nabla\log\pi_\theta(a)] = 0$, and why does that make any constant baseline
#   unbiased? Which constant baseline minimises the variance in section 3, and why is it not exactly $J$?
# - Why does the batch-mean baseline shrink the expected gradient by $1 - 1/n$, and how does the
#   leave-one-out baseline (RLOO) avoid it?
# - Which argument turns $R(\tau)\sum_t\nabla\log\pi(a_t\mid s_t)$ into $\sum_t G_t\nabla\log\pi(a_t\mid s_t)$, and which
#   factor do implementations drop on the way?
# - Adding 10 to every reward changes the surrogate loss from 0.41 to 11.40 on the same samples. Why
#   does that not change the expected update, and why does it mean the loss's value cannot tell you
#   whether training is working?
# - What goes wrong if the loss uses $\pi_\theta(a)$ instead of $\log\pi_\theta(a)$?
#
# **Next:** notebook 05 turns this into REINFORCE on CartPole: many steps per episode, discounted
# reward-to-go, and a learned value function $V_\phi(s)$ as a state-dependent baseline.
