# %% [markdown]
# # 05 · REINFORCE: policy gradients over whole episodes
#
# **What you will build:** REINFORCE (Williams, 1992) that balances a pole. It is notebook 04's
# score-function gradient, applied at every step of an episode, with four ingredients that make it
# work: the discounted **reward-to-go**, a learned **value baseline**, **advantage normalisation** and an
# **entropy bonus**. You will also meet the two bugs that turn REINFORCE into something that trains
# without learning, and the time-limit subtlety (`terminated` vs `truncated`) that every later
# notebook relies on.
#
# **Learning goals**
# - Compute the discounted reward-to-go $G_t$, with episode ends and a bootstrap value.
# - Write the REINFORCE loss and see that it is a reward-weighted cross-entropy on the model's own samples.
# - Train on CartPole-v1 until the 475 threshold and evaluate the greedy policy.
# - Recognise two broken "REINFORCE"s by what their learning curves do.
# - Bootstrap from $V(s)$ where a time limit cut an episode, and say why.
#
# **Prerequisites:** notebook 04 (score-function gradient, baselines); notebook 01 (cross-entropy).

# %%
# %matplotlib inline
import math

import gymnasium as gym
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from lmrl_course.device import setup_notebook, seed_everything

device = setup_notebook(seed=0)
plt.rcParams["figure.dpi"] = 80          # keeps the stored notebook small

# %% [markdown]
# ## 1 · The environment: CartPole-v1
#
# A pole is hinged on a cart. `obs` is 4 numbers (cart position and velocity, pole angle and angular
# velocity); the `action` pushes the cart left (0) or right (1); the `reward` is $+1$ for every step the
# pole stays up. The episode **terminates** when the pole falls past 12° or the cart leaves the track,
# and is **truncated** by a time limit after 500 steps. The task counts as solved when the average
# return over recent episodes reaches **475**. A random policy lasts about 22 steps:

# %%
env = gym.make("CartPole-v1")
print("obs space:", env.observation_space.shape, "| actions:", env.action_space.n,
      "| time limit:", env.spec.max_episode_steps)
lengths = []
for k in range(20):
    obs, _ = env.reset(seed=k)
    env.action_space.seed(k)
    done, steps = False, 0
    while not done:
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        steps += 1
        done = terminated or truncated
    lengths.append(steps)
print(f"random policy: mean return {np.mean(lengths):.1f} over 20 episodes")

# %% [markdown]
# ## 2 · Background: the policy gradient for episodes
#
# For a trajectory $\tau = (s_0, a_0, r_0, s_1, \dots)$ the log-derivative trick of notebook 04 gives
#
# $$\nabla_\theta J(\theta) = \mathbb{E}_{\tau\sim\pi_\theta}\Big[\sum_t \nabla_\theta\log\pi_\theta(a_t\mid s_t)\,\big(G_t - b(s_t)\big)\Big],
# \qquad G_t = \sum_{k\ge0}\gamma^k r_{t+k}.$$
#
# This is not what the derivation of notebook 04 gives directly. Applied to a whole trajectory, the
# log-derivative trick gives $\mathbb{E}\big[R(\tau)\sum_t\nabla_\theta\log\pi_\theta(a_t\mid s_t)\big]$: every
# score multiplied by the return of the **whole** episode. Two steps lead from there to the formula above:
#
# - **Reward-to-go, by causality.** For $t' < t$, $r_{t'}$ is fixed before $a_t$ is drawn, so
#   $\mathbb{E}\big[r_{t'}\,\nabla\log\pi(a_t\mid s_t)\big] = \mathbb{E}\big[r_{t'}\,\mathbb{E}_{a_t}[\nabla\log\pi(a_t\mid s_t)]\big] = 0$
#   (the expected score is zero, as for the baseline). Dropping the rewards that came *before* $a_t$
#   removes pure noise and leaves the gradient unbiased.
# - **The discount, and a factor we drop.** For the discounted objective $J = \mathbb{E}[\sum_t\gamma^t r_t]$ the
#   same argument gives $\sum_t \gamma^t\,\nabla\log\pi(a_t\mid s_t)\,G_t$: a factor $\gamma^t$ in front of
#   each term. Practically every implementation (this one, the package's, PPO's) **drops that $\gamma^t$**
#   and weights a step at $t = 300$ as much as one at $t = 0$. The result is no longer the gradient of
#   the discounted objective (Nota & Thomas, 2020, "Is the policy gradient a gradient?"): $\gamma$ then
#   serves as a variance-reduction knob for the undiscounted return, at the price of a bias.
# - **A state-dependent baseline** $b(s_t) = V_\phi(s_t)$, a value network regressed onto $G_t$. The
#   **advantage** $\hat A_t = G_t - V_\phi(s_t)$ says whether $a_t$ did better or worse than usual *from
#   that state*. The discount $\gamma = 0.99$ makes the horizon about $1/(1-\gamma) = 100$ steps.
#
# ### Pseudocode (REINFORCE with a value baseline)
#
# ```
# 1  for update = 1, 2, ...:
# 2      run the policy π_θ to collect a batch of episodes (≥ batch_steps transitions)
# 3      G_t = reward-to-go per step; bootstrap with γ·V_φ(s_final) where the episode was truncated
# 4      Â_t = G_t − V_φ(s_t), normalised to mean 0, std 1 over the batch
# 5      one gradient step on  L(θ) = −mean_t[ log π_θ(a_t|s_t) · Â_t ] − c_ent · mean_t H[π_θ(·|s_t)]
# 6      a few epochs of regression of V_φ(s_t) onto G_t
# ```

# %% [markdown]
# ## 3 · Reward-to-go
#
# Backwards in time, with `dones[t] = True` where an episode ended at step $t$ (nothing after it
# counts), and an optional `last_value` $=V(s_N)$ that stands in for the rewards after the last
# step when the data was cut off rather than finished:
#
# $$G_t = r_t + \gamma\,(1-\mathrm{done}_t)\,G_{t+1}, \qquad G_N = \texttt{last\_value}\ (\text{or } 0).$$
#
# ### Exercise: reward-to-go
#
# Write `reward_to_go(rewards, dones, gamma, last_value=None)` for `rewards` of shape `(N,)` or
# `(N, B)` (time first; `B` environments side by side); `last_value` has shape `rewards[0].shape`.
# `dones` may be boolean or float 0/1; where the last step is done, `last_value` must be ignored. Return a
# tensor of the same shape and dtype as `rewards` (the checker has a float64 case).

# %% tags=["exercise"]
# EXERCISE: reward_to_go
def reward_to_go(rewards, dones, gamma, last_value=None):
    # Replace the next line with your code (about seven lines).
    raise NotImplementedError

# %%
from lmrl_course.exercises import check

result_rtg = check("reward_to_go", reward_to_go)
result_rtg

# %%
from lmrl_course.rl.returns import discounted_returns   # the package's version

rtg = result_rtg.function
rewards = torch.ones(6)
dones = torch.tensor([0, 0, 1, 0, 0, 0], dtype=torch.bool)
print(f"{result_rtg.whose + ':':10}", [round(v, 4) for v in rtg(rewards, dones, 0.9).tolist()])   # "yours" once it passes
print(f"{'package:':10}", [round(v, 4) for v in discounted_returns(rewards, dones, 0.9).tolist()])

# %% [markdown]
# ## 4 · The loss, and what it really is
#
# Step 5 of the pseudocode as a loss to *minimise*: $L(\theta) = -\frac1M\sum_t \log\pi_\theta(a_t\mid s_t)\,\hat A_t$,
# with $\hat A_t$ held constant (the gradient must not flow into the baseline).
#
# ### Exercise: the REINFORCE loss
#
# Write `reinforce_loss(logp, advantages)` for tensors of any (equal) shape (the checker uses `(M,)` and
# `(B, T)`, float32 and float64), averaged over all elements. The checker compares the gradients with
# respect to both inputs too: the one with respect to `advantages` must be zero, so detach them.

# %% tags=["exercise"]
# EXERCISE: reinforce_loss
def reinforce_loss(logp, advantages):
    # Replace the next line with your code (one line).
    raise NotImplementedError

# %%
result_loss = check("reinforce_loss", reinforce_loss)
result_loss

# %% [markdown]
# **REINFORCE is a reward-weighted cross-entropy.** In notebook 01 the loss on a label $y$ was
# $\mathrm{CE}(z, y) = -\log\mathrm{softmax}(z)_y$. Put the policy's *own sampled action* in place of the
# label and weight each term by its advantage, and you have the REINFORCE loss, number for number:
#
# $$L = \frac1M\sum_t \hat A_t\cdot\mathrm{CE}(z_t, a_t).$$
#
# Supervised learning is the special case "every sample is a correct label with weight 1"; RL decides
# the weights (and their signs) from rewards.

# %%
from lmrl_course.rl.policies import CategoricalPolicy
from lmrl_course.rl.reinforce import reinforce_loss as package_reinforce_loss

seed_everything(1)
policy = CategoricalPolicy(obs_dim=4, n_actions=2)
obs_batch = torch.randn(8, 4)                              # (M, obs_dim): 8 states
logits = policy(obs_batch)                                 # (M, 2)
actions = torch.distributions.Categorical(logits=logits).sample()   # the policy's own samples
advantages = torch.randn(8)                                # (M,)
logp = torch.log_softmax(logits, -1).gather(1, actions[:, None]).squeeze(1)   # log π(a_t|s_t), (M,)
print(f"REINFORCE loss ({result_loss.whose:9})     : {result_loss.function(logp, advantages).item():.6f}")
print(f"REINFORCE loss (package)       : {package_reinforce_loss(logp, advantages).item():.6f}")
weighted_ce = (advantages * F.cross_entropy(logits, actions, reduction="none")).mean()
print(f"advantage-weighted cross-entropy: {weighted_ce.item():.6f}")

# %% [markdown]
# ## 5 · REINFORCE from scratch
#
# One CartPole environment, whole episodes, the pseudocode line by line. Note how an episode's end is
# handled when computing $G_t$: a pole that fell (`terminated`) has no future; an episode stopped by the
# 500-step time limit (`truncated`) *does* — the pole was still up — so we bootstrap from
# $\gamma V_\phi(s_\text{final})$. Section 8 shows why this matters. `loss_kind` lets us run the broken
# versions of section 7 through the very same loop.

# %%
from lmrl_course.rl.policies import ValueNetwork
from lmrl_course.rl.returns import normalize_advantages


def run_episode(env, policy):
    """One episode with actions sampled from π_θ: tensors obs (T, 4), actions (T,), rewards (T,),
    and how it ended (terminated, final observation)."""
    obs, _ = env.reset()
    observations, actions, rewards = [], [], []
    while True:
        with torch.no_grad():
            probs = torch.softmax(policy(torch.as_tensor(obs).unsqueeze(0)), -1)[0]   # (2,)
        action = int(torch.multinomial(probs, 1))
        next_obs, reward, terminated, truncated, _ = env.step(action)
        observations.append(obs); actions.append(action); rewards.append(reward)
        obs = next_obs
        if terminated or truncated:
            return (torch.as_tensor(np.array(observations)), torch.tensor(actions),
                    torch.tensor(rewards, dtype=torch.float32), terminated, torch.as_tensor(obs))


def train_reinforce_scratch(total_steps=20_000, batch_steps=1000, lr=1e-2, gamma=0.99, ent_coef=0.0,
                            loss_kind="reinforce", seed=0, max_episode_steps=500):
    seed_everything(seed)
    env = gym.make("CartPole-v1", max_episode_steps=max_episode_steps)
    env.reset(seed=seed)
    policy, value_fn = CategoricalPolicy(4, 2), ValueNetwork(4)
    pi_opt = torch.optim.Adam(policy.parameters(), lr=lr)
    vf_opt = torch.optim.Adam(value_fn.parameters(), lr=1e-3)
    episode_returns, episode_steps, steps = [], [], 0
    while steps < total_steps:
        # 2: a batch of whole episodes
        batch_obs, batch_act, batch_ret = [], [], []
        n = 0
        while n < batch_steps:
            obs, act, rew, terminated, final_obs = run_episode(env, policy)
            # 3: reward-to-go; done only where the pole fell; bootstrap a time-limit cut with V(s_final)
            dones = torch.zeros(len(rew), dtype=torch.bool)
            dones[-1] = terminated
            with torch.no_grad():
                last_value = value_fn(final_obs.unsqueeze(0))[0]
            batch_obs.append(obs); batch_act.append(act); batch_ret.append(rtg(rew, dones, gamma, last_value))
            n += len(rew); steps += len(rew)
            episode_returns.append(rew.sum().item()); episode_steps.append(steps)
        obs, act, ret = torch.cat(batch_obs), torch.cat(batch_act), torch.cat(batch_ret)   # (M, 4), (M,), (M,)
        # 4: advantages against the value baseline, normalised
        with torch.no_grad():
            advantages = normalize_advantages(ret - value_fn(obs))                          # (M,)
        # 5: one policy-gradient step
        logits = policy(obs)                                                                # (M, 2)
        logp_all = torch.log_softmax(logits, -1)                                            # (M, 2)
        entropy = -(logp_all.exp() * logp_all).sum(-1).mean()
        if loss_kind == "reinforce":
            loss = result_loss.function(logp_all.gather(1, act[:, None]).squeeze(1), advantages)
        elif loss_kind == "supervised":      # BROKEN: cross-entropy on the samples as labels, no reward
            loss = F.cross_entropy(logits, act)
        elif loss_kind == "max_prob":        # BROKEN: log-prob of the argmax, not of the sampled action
            loss = result_loss.function(logp_all.max(-1).values, advantages)
        loss = loss - ent_coef * entropy
        pi_opt.zero_grad(); loss.backward(); pi_opt.step()
        # 6: fit the value network to the returns
        for _ in range(5):
            for idx in torch.randperm(len(ret)).split(256):
                v_loss = 0.5 * (value_fn(obs[idx]) - ret[idx]).pow(2).mean()
                vf_opt.zero_grad(); v_loss.backward(); vf_opt.step()
    env.close()
    return {"episode_returns": episode_returns, "episode_env_steps": episode_steps, "policy": policy}

# %%
import time
from lmrl_course.rl.plotting import moving_average

start = time.perf_counter()
scratch = train_reinforce_scratch(total_steps=20_000, seed=0)
print(f"took {time.perf_counter() - start:.2f} s")
r = scratch["episode_returns"]
print(f"{len(r)} episodes; mean return of the first 20: {np.mean(r[:20]):.1f}, of the last 20: {np.mean(r[-20:]):.1f}")
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(scratch["episode_env_steps"], r, alpha=0.3, label="episode return")
ax.plot(scratch["episode_env_steps"], moving_average(r, 20), label="20-episode moving average")
ax.axhline(475, ls="--", c="gray", label="solved (475)")
ax.set_xlabel("environment steps"); ax.set_ylabel("return"); ax.set_title("REINFORCE from scratch, 20k steps")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 6 · The package's version, to the threshold
#
# `lmrl_course.rl.train_reinforce` is the same algorithm — **Monte-Carlo** REINFORCE — organised for
# speed: an `EpisodeCollector` steps 4 CartPole copies side by side (one batched forward pass of the
# policy per step) and returns **whole episodes** totalling at least $B\cdot N = 4\cdot 256 = 1024$ steps:
# it stops *starting* episodes once it has enough steps, and finishes every episode it started, so no
# episode is ever cut and no step is bootstrapped except at the 500-step time limit. Then the same
# reward-to-go, one policy step per batch (Adam, lr $5\cdot10^{-3}$, gradient norm clipped to 0.5) and
# the value baseline. Called with `cfg=None` it uses `ReinforceConfig.for_env("CartPole-v1")`, the
# documented default that `python -m lmrl_course.scripts.make_rl_defaults_table` checks on seeds
# nobody tuned for (the table is printed below). The config also has an entropy bonus `ent_coef`: a
# term $+c\,\mathcal H[\pi_\theta(\cdot\mid s)]$ that resists a premature collapse to a deterministic
# policy; CartPole does not need it (0 by default).

# %%
from lmrl_course.rl import ReinforceConfig, evaluate_policy, plot_learning_curves, train_reinforce

start = time.perf_counter()
history = train_reinforce("CartPole-v1", None, seed=0, stop_when_solved=True, progress=True)   # cfg=None: the default
print(f"took {time.perf_counter() - start:.2f} s")
print(f"solved (20-episode mean ≥ 475) after {history['solved_at_env_steps']} env steps, "
      f"{len(history['episode_returns'])} episodes, {len(history['env_steps'])} updates "
      f"of {min(history['batch_steps']):.0f}-{max(history['batch_steps']):.0f} steps (whole episodes)")
fig, ax = plt.subplots(1, 2, figsize=(10, 3.4))
plot_learning_curves({"REINFORCE (package)": history}, ax=ax[0], title="CartPole-v1")
ax[1].plot(history["env_steps"], history["entropy"], label="policy entropy (nats)")
ax[1].plot(history["env_steps"], history["explained_variance"], label="explained variance of V")
ax[1].set_xlabel("environment steps"); ax[1].legend(fontsize=8); ax[1].grid(alpha=0.3)
plt.show()

# %% [markdown]
# One seed is one run. The same default on held-out seeds (100-109) that were never used for tuning,
# precomputed (the number of seeds is printed):

# %%
import json
from lmrl_course.paths import ASSETS_DIR

table = json.loads((ASSETS_DIR / "rl_defaults_table.json").read_text())
print("made on:", table["machine"])
for row in table["summary"]:
    if row["algo"] == "reinforce" or (row["algo"] == "ppo" and row["env_id"] == "Pendulum-v1"):  # PPO: for scale
        print(f"{row['algo'].upper():9} {row['env_id']:<12} rule: mean of the last {row['window']:>3} episodes ≥ "
              f"{row['threshold']:>6.1f} | reached on {row['solved']}/{row['runs']} held-out seeds, env steps: median "
              f"{row['median_steps']:.0f}, range {row['min_steps']}-{row['max_steps']}; median CPU {row['median_cpu_s']:.1f} s")

# %% [markdown]
# Read the rule and the steps together: on all three environments the rule is the usual "solved" bar
# (CartPole 475, Acrobot −100, Pendulum −200 over the last 20 episodes) and every held-out seed reaches it.
# But on Pendulum REINFORCE, run with a budget of a million env steps, needs a median of about 246k to get
# there (165k–436k), against about 33k for PPO's default on the same seeds (the PPO line). One likely
# reason, not isolated (γ, lr, batch size and the advantage estimator differ too): REINFORCE takes one
# gradient step per batch of whole episodes (here one 200-step episode), while PPO reuses each batch for
# many minibatch steps (notebook 07); the correction that allows the reuse is PPO's ratio.
# `ReinforceConfig`'s `ENV_DEFAULTS` comment records what was tried.
#
# In the right panel, the entropy starts at $\log 2 \approx 0.69$ (a coin flip, the most a two-action
# policy can have) and falls as the policy becomes more certain; the explained variance
# (notebook 07 defines it) tracks how well the value baseline predicts the returns. These are the
# curves of this one seed.
#
# **Greedy evaluation.** Training samples actions; to measure what the policy has learned, we also
# run it *greedily* (always the most likely action) on fresh episodes with `evaluate_policy`.

# %%
policy = history["policy"]
greedy = evaluate_policy(policy, "CartPole-v1", n_episodes=10, greedy=True, seed=100)
sampled = evaluate_policy(policy, "CartPole-v1", n_episodes=10, greedy=False, seed=100)
print(f"greedy  policy: mean return {greedy['mean']:.1f} ± {greedy['std']:.1f} over 10 episodes")
print(f"sampled policy: mean return {sampled['mean']:.1f} ± {sampled['std']:.1f} over 10 episodes")

# %% [markdown]
# ## 7 · Common mistake: two "REINFORCE"s that train but never learn
#
# > **Common mistake 1: supervised training on your own samples.** "The policy sampled action $a_t$, so
# > minimise the cross-entropy with $a_t$ as the label" — plain `F.cross_entropy(logits, actions)`, no
# > reward anywhere. This is REINFORCE with $\hat A_t = 1$ for every sample: every action is reinforced,
# > good or bad. The policy only becomes more confident in whatever it already does.
# >
# > **Common mistake 2: the wrong probabilities.** The loss must use $\log\pi_\theta(a_t\mid s_t)$ of the
# > action *that was sampled and executed*. Variants seen in the wild — `probs.max()` (the argmax's
# > probability), a `gather` on the wrong axis, or an undefined `prob` patched with "the policy's top
# > probability" — multiply the advantage by the score of an action that may never have been taken.
# > The reward signal then no longer says anything about the action it is paired with.
#
# All three run through the same loop and budget (10 000 env steps), on 5 seeds each; lines are the
# mean over seeds, bands the range (min to max):

# %%
SEEDS, BUDGET = [0, 1, 2, 3, 4], 10_000
labels = {"reinforce": "REINFORCE: −logπ(a_t)·Â_t", "supervised": "mistake 1: cross-entropy on own samples",
          "max_prob": "mistake 2: −log max π(·|s_t)·Â_t"}
start = time.perf_counter()
runs = {kind: [train_reinforce_scratch(total_steps=BUDGET, loss_kind=kind, seed=s) for s in SEEDS] for kind in labels}
print(f"took {time.perf_counter() - start:.2f} s")
grid = np.linspace(0, BUDGET, 101)
fig, ax = plt.subplots(figsize=(6.5, 3.4))
final = {}
for kind, hs in runs.items():
    curves = np.array([np.interp(grid, h["episode_env_steps"], moving_average(h["episode_returns"], 20)) for h in hs])
    line, = ax.plot(grid, curves.mean(0), label=labels[kind])
    ax.fill_between(grid, curves.min(0), curves.max(0), color=line.get_color(), alpha=0.2)
    final[kind] = [np.mean(h["episode_returns"][-20:]) for h in hs]
ax.set_xlabel("environment steps"); ax.set_ylabel("return (20-episode mean)"); ax.legend(fontsize=8)
plt.show()
for kind in labels:
    print(f"{labels[kind]:42s} last-20 mean return per seed: {np.round(final[kind], 1).tolist()}")

# %% [markdown]
# Within this 10 000-step budget the real REINFORCE does best on every seed: its lowest seed (88.2)
# ends above the highest seed of either broken version (54.6), although none of the 15 runs is near
# 475 yet at this budget (the numbers above). The max-probability version stays at about a random
# policy's return (18.7-25.3 against 22.1 in section 1). The supervised version ends above random on
# four of the five seeds (29.6-54.6) and below it on one (17.0); a plausible source of what it gains is
# batching: a longer episode contributes more samples, so it is imitated a little more — a faint,
# unintended reward signal. Without advantages it cannot tell the good actions of an episode from the
# bad ones. The max-probability version's gradient ignores *which* action earned the advantage: it
# sharpens the favourite action in states that went well and flattens it in states that went badly,
# which is not a policy improvement.
# We did not print the losses here; the point of notebook 04 stands — a loss value does not tell you
# whether the policy improves; only the return does.

# %% [markdown]
# ## 8 · `terminated` vs `truncated`: a time limit is not a failure
#
# Gymnasium reports two different ways an episode ends:
#
# - `terminated=True`: the pole **fell**. That state is terminal; no more reward will ever come. $G_t$
#   stops there.
# - `truncated=True`: the **500-step time limit** stopped an episode that could have gone on. The true
#   return from the last state is not 0: for a policy that would keep the pole up forever it is
#   $1/(1-\gamma) = 100$. We estimate the missing tail with $\gamma V_\phi(s_\text{final})$.
#
# Treating a truncation as termination tells the value network that a perfectly balanced pole, 5
# steps before the time limit, is worth 5. The observation does not contain the time, so similar
# states get a large target in one episode (up to ~100) and ~5 in another: the baseline is trained on
# contradictory targets. Here are the value targets along one 500-step episode of the trained policy,
# both ways:

# %%
seed_everything(2)
eval_env = gym.make("CartPole-v1")
eval_env.reset(seed=3)
for attempt in range(20):          # the first episode that reaches the time limit
    obs_ep, act_ep, rew_ep, terminated, final_obs = run_episode(eval_env, history["policy"])
    if not terminated:
        break
print(f"episode {attempt + 1}: length {len(rew_ep)}, terminated = {terminated} (so it was truncated by the time limit)")
value_fn = history["value_fn"]
with torch.no_grad():
    v_final = value_fn(final_obs.unsqueeze(0))[0]
    v_states = value_fn(obs_ep)
not_done = torch.zeros(len(rew_ep), dtype=torch.bool)
as_terminal = torch.zeros(len(rew_ep), dtype=torch.bool)
as_terminal[-1] = True
G_bootstrap = rtg(rew_ep, not_done, 0.99, v_final)            # right: bootstrap from V(s_final)
G_terminal = rtg(rew_ep, as_terminal, 0.99)                   # the mistake: time limit treated as a fall
fig, ax = plt.subplots(figsize=(6.5, 3.2))
ax.plot(G_bootstrap, label="target, truncation bootstrapped (right)")
ax.plot(G_terminal, label="target, truncation as termination (mistake)")
ax.plot(v_states, ":", c="k", label="V(s_t) of the trained value network")
ax.set_xlabel("step t of the episode"); ax.set_ylabel("value target $G_t$"); ax.legend(fontsize=8)
plt.show()
print(f"V(s_final) = {v_final.item():.1f}; target at t = 495: bootstrapped {G_bootstrap[495].item():.1f}, "
      f"as-terminal {G_terminal[495].item():.1f}")

# %% [markdown]
# For most of the episode the two targets agree (after 100+ steps, $\gamma^{k}$ has forgotten the
# end), but over the last ~100 steps the "terminal" version falls towards 1 for states that are as good
# as any other: at $t = 495$ it is 4.9, against 63.6 with the bootstrap (printed above; this policy's
# $V(s_\text{final})$ is 61.8, below the ideal 100). That is about a fifth of a 500-step episode, and in tasks with short time
# limits (or a language model with a maximum length!) it is most of it. `train_reinforce`,
# `train_trpo` and `train_ppo` all bootstrap at truncations; their `truncation_as_termination=True`
# switch reproduces the mistake for comparison.

# %% [markdown]
# ## 9 · Play: discount and episode ends
#
# The reward-to-go of a 200-step CartPole episode (reward 1 per step) for a discount $\gamma$ of your
# choice, ended either by the pole falling (terminated) or by a time limit (truncated, bootstrapped
# with the ideal value $1/(1-\gamma)$). Watch how far back the end of an episode reaches: about
# $1/(1-\gamma)$ steps.

# %%
import ipywidgets as widgets
from lmrl_course.widgets import PlotWidget


def draw_returns(fig, gamma, ending):
    T = 200
    rewards = torch.ones(T)
    dones = torch.zeros(T, dtype=torch.bool)
    if ending == "terminated":
        dones[-1] = True
        G = rtg(rewards, dones, gamma)
    else:
        G = rtg(rewards, dones, gamma, torch.tensor(1.0 / (1.0 - gamma)))
    ax = fig.subplots()
    ax.plot(G.numpy())
    ax.axhline(1 / (1 - gamma), ls="--", c="gray", label="1/(1−γ)")
    ax.set_ylim(0, 1.1 / (1 - gamma)); ax.set_xlabel("step t"); ax.set_ylabel("$G_t$"); ax.legend()
    ax.set_title(f"γ = {gamma:.3f}, episode {ending}")
    return f"G_0 = {G[0].item():.2f}, G_190 = {G[190].item():.2f}, effective horizon 1/(1-γ) = {1 / (1 - gamma):.0f} steps"


PlotWidget(draw_returns, {"gamma": widgets.FloatSlider(value=0.99, min=0.8, max=0.999, step=0.001, readout_format=".3f",
                                                       description="γ"),
                          "ending": widgets.ToggleButtons(options=["terminated", "truncated"], description="end")})

# %% [markdown]
# ## Check yourself
#
# - Why does each $\log\pi(a_t\mid s_t)$ get only the rewards from $t$ on? Why is that still unbiased?
# - Write the REINFORCE loss as a weighted cross-entropy. What are the "labels" and the weights?
# - What does "cross-entropy on your own samples" optimise, and why does it not learn the task?
# - Why must the loss use the log-probability of the *sampled* action?
# - A 500-step CartPole episode ends with `truncated=True`. What is the value target of its last step,
#   and what would it be if you treated it as terminal?
#
# **Next:** REINFORCE takes one gradient step per batch and its step size is a guess. Notebook 06 shows
# how a too-large step destroys a good policy, and builds TRPO, which picks the step by bounding the
# change in the policy's distribution (a KL trust region).
