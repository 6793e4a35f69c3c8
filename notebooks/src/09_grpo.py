# %% [markdown]
# # 09 · GRPO and RLOO: policy gradients without a value network
#
# **What you will build:** two value-free versions of notebook 08's fine-tuning. Instead of learning a
# critic $V_\phi$, they sample a **group** of $k$ lines for every prompt and let each line be judged
# against its siblings: **GRPO** (group-relative policy optimisation, DeepSeekMath 2024) standardises the
# rewards within the group and adds the KL to the reference as a loss term with the **k3 estimator**;
# **RLOO** (REINFORCE leave-one-out) uses the mean reward of the *other* $k-1$ lines as the baseline.
# You will compare both with PPO on the same task: reward reached, KL paid, wall time.
#
# **Learning goals**
# - Compute group-relative and leave-one-out advantages, and say why a group of equal rewards teaches nothing.
# - Estimate the KL to the reference with k1, k2 and k3, and check them against the exact KL.
# - Run GRPO live and read a reward-vs-KL comparison of PPO, GRPO and RLOO.
#
# **Prerequisites:** notebook 08 (the task, the per-token log-probs and masks, PPO for language models).

# %%
# %matplotlib inline
import copy
import json
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from lmrl_course.device import setup_notebook, seed_everything

device = setup_notebook(seed=0)

# %% [markdown]
# ## 1 · The task, with a rule as the reward
#
# Same task as notebook 08: write the next line of the play, N ≤ 32 characters, sampled at τ = 0.7. To
# compare methods on equal terms we skip the learned reward model and reward with the **annotator's
# rule itself** (the share of vowels, 0 for lines under 12 letters). A reward computed by a program is
# what GRPO was designed for: DeepSeek trained it on maths answers checked by a script.
#
# The rule's scores are small numbers (a typical line: 0.37 ± 0.08), while the KL penalty is counted in
# nats. So that β means the same as in notebook 08, the reward is put in standard units,
# $s = (\text{score} - \text{mean}) / \text{std}$, with the mean and std of the score over the play's own lines.
# The figures show the annotator's raw score.

# %%
from lmrl_course.data import load_text
from lmrl_course.gpt import load_pretrained
from lmrl_course.rlhf import VowelAnnotator, annotator_reward_fn, decode_responses, sample_responses
from lmrl_course.rlhf.tasks import MAX_NEW_TOKENS, TEMPERATURE, rule_reward_stats, shakespeare_prompts

gpt, tokenizer = load_pretrained(device=device)
ref_policy = copy.deepcopy(gpt).eval()
text = load_text()
train_prompts, test_prompts = shakespeare_prompts(text, tokenizer)
EOS = tokenizer.stoi["\n"]
annotator = VowelAnnotator()
offset, scale = rule_reward_stats(text, annotator)
print(f"annotator score over the play's lines: mean {offset:.3f}, std {scale:.3f}")
reward_fn = annotator_reward_fn(annotator, tokenizer, EOS, offset, scale)   # (prompt, response, mask) -> (B,)
gold_fn = annotator_reward_fn(annotator, tokenizer, EOS)                    # the raw score, for the figures

# %% [markdown]
# A **group**: k = 4 lines for each of 3 prompts. Prompts differ in how easy they make a high score; the
# group's own mean is a baseline for *this* prompt, which a single batch-wide baseline is not.

# %%
seed_everything(1)
gen = torch.Generator().manual_seed(1)
k = 4
group_prompts = test_prompts[:3].to(device).repeat_interleave(k, dim=0)       # (G·k, P), siblings adjacent
ro = sample_responses(gpt, group_prompts, MAX_NEW_TOKENS, TEMPERATURE, EOS, 0, gen)
rewards = reward_fn(ro.prompt, ro.response, ro.mask).view(3, k)             # (G, k), standard units
lines = decode_responses(tokenizer, ro.response, ro.mask, strip_eos=EOS)
for g in range(3):
    print(f"prompt {g}: mean reward {rewards[g].mean():+.2f}")
    for i in range(k):
        print(f"   {rewards[g, i]:+.2f}  {lines[g * k + i]!r}")

# %% [markdown]
# ## 2 · GRPO's group-relative advantage
#
# For the $k$ rewards $s_1..s_k$ of one prompt, every token of line $i$ gets the same advantage
#
# $$\hat A_i = \frac{s_i - \operatorname{mean}(s_{1..k})}{\operatorname{std}(s_{1..k}) + \epsilon}.$$
#
# Within a group the advantages sum to zero: the better half of the lines is pushed up, the worse half
# down. **Your turn:** write `group_advantages(rewards)` for a (G, k) tensor, with the sample standard
# deviation and $\epsilon = 10^{-4}$.

# %% tags=["exercise"]
# EXERCISE: group_advantages
def group_advantages(rewards):
    # Replace the next line with your code (about three lines).
    raise NotImplementedError

# %%
from lmrl_course.exercises import check

result = check("group_advantages", group_advantages)
result

# %%
grpo_adv = result.function
adv = grpo_adv(rewards)
print("advantages:", [[round(v, 2) for v in row] for row in adv.tolist()])
print("sum per group:", [round(v, 6) + 0.0 for v in adv.sum(1).tolist()])
print("a group of equal rewards:", grpo_adv(torch.tensor([[0.4, 0.4, 0.4, 0.4]])).tolist())

# %% [markdown]
# A group whose lines all score the same gives $\hat A = 0$ for every line: no gradient, whatever the
# reward. With a 0/1 reward (a maths answer right or wrong) that is every group the model always or never
# solves, which is why GRPO needs tasks of the right difficulty.
#
# ## 3 · RLOO's leave-one-out baseline
#
# RLOO keeps the plain REINFORCE estimate and subtracts, for line $i$, the mean of its $k-1$ siblings.
# The baseline does not depend on line $i$ itself, so the gradient stays unbiased:
#
# $$\hat A_i = R_i - \frac{1}{k-1}\sum_{j \ne i} R_j = \frac{k}{k-1}\Big(R_i - \frac1k \sum_j R_j\Big),
# \qquad R_i = s_i - \beta \sum_t \mathrm{KL}_t .$$
#
# (In RLOO the KL penalty goes into the reward, as in notebook 08.) The original RLOO takes one plain
# REINFORCE step per batch; to compare like with like, the package's RLOO uses the same clipped surrogate,
# epochs and minibatches as PPO and GRPO, so only the advantage differs. **Your turn:** `rloo_advantages(rewards)`.

# %% tags=["exercise"]
# EXERCISE: rloo_advantages
def rloo_advantages(rewards):
    # Replace the next line with your code (two or three lines).
    raise NotImplementedError

# %%
result = check("rloo_advantages", rloo_advantages)
result

# %%
rloo_adv = result.function
brute = torch.stack([torch.stack([rewards[g, i] - torch.cat([rewards[g, :i], rewards[g, i + 1:]]).mean()
                                  for i in range(k)]) for g in range(3)])
print("RLOO advantages     :", [[round(v, 3) for v in row] for row in rloo_adv(rewards).tolist()])
print("brute-force leave-1-out:", [[round(v, 3) for v in row] for row in brute.tolist()])

# %% [markdown]
# ## 4 · The KL to the reference, three ways
#
# GRPO does not put the KL into the reward; it adds $\beta\,\mathrm{KL}$ to the loss and estimates it per token
# with **k3**. With $a_t$ sampled from $\pi_\theta$ and $\rho_t = \pi_\text{ref}(a_t)/\pi_\theta(a_t)$:
#
# | estimator | per token | unbiased? | ≥ 0? |
# |---|---|---|---|
# | k1 | $-\log \rho_t$ | yes | no |
# | k2 | $\tfrac12 (\log \rho_t)^2$ | no | yes |
# | k3 | $(\rho_t - 1) - \log \rho_t$ | yes ($\mathbb E[\rho_t] = 1$) | yes ($x - 1 \ge \log x$) |
#
# **Your turn:** write `k3_estimator(logp, ref_logp)` (per token, same shape as the inputs).

# %% tags=["exercise"]
# EXERCISE: k3_estimator
def k3_estimator(logp, ref_logp):
    # Replace the next line with your code (two lines).
    raise NotImplementedError

# %%
result = check("k3_estimator", k3_estimator)
result

# %% [markdown]
# To see the three estimators at work we need a policy that differs from the reference: a quick GRPO
# run (section 5) provides one. Then we compare each estimator's per-line sum with the **exact** KL,
# $\sum_t \sum_v \pi_\theta(v \mid s_t)\log\frac{\pi_\theta(v \mid s_t)}{\pi_\text{ref}(v \mid s_t)}$, computed from both
# models' full next-character distributions.
#
# ## 5 · A live GRPO run
#
# 8 prompts × 4 lines = 32 lines per update (the same number as PPO's batch in notebook 08), 2 epochs
# × 2 minibatches of the clipped surrogate, β = 0.2, 25 updates.

# %%
from lmrl_course.rlhf import GroupConfig, GroupTrainer, evaluate_policy
from lmrl_course.rlhf.tasks import GROUP_RECIPE

grpo_cfg = GroupConfig(method="grpo", **GROUP_RECIPE)
print(grpo_cfg)

# %% tags=["solutions-skip"]
seed_everything(2)
grpo_policy = copy.deepcopy(gpt)
grpo = GroupTrainer(grpo_policy, ref_policy, reward_fn, grpo_cfg, eos_id=EOS, device=device, seed=0, gold_fn=gold_fn)
t0 = time.perf_counter()
grpo_hist = grpo.train(train_prompts, 25, progress=True)
print(f"took {time.perf_counter() - t0:.2f} s")

# %% tags=["solutions-skip"]
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
axes[0].plot(grpo_hist["update"], grpo_hist["gold"])
axes[0].set_xlabel("update"); axes[0].set_ylabel("annotator score")
axes[1].plot(grpo_hist["update"], grpo_hist["kl"], label="Σ k1")
axes[1].plot(grpo_hist["update"], grpo_hist["kl_k3"], label="Σ k3")
axes[1].set_xlabel("update"); axes[1].set_ylabel("KL per line (nats)"); axes[1].legend()
plt.tight_layout()
plt.show()

# %% tags=["solutions-skip"]
from lmrl_course.rlhf import exact_kl, kl_k1, kl_k2, response_logits

k3_fn = result.function
seed_everything(3)
gen = torch.Generator().manual_seed(3)
ro3 = sample_responses(grpo_policy, test_prompts[:128].to(device), MAX_NEW_TOKENS, TEMPERATURE, EOS, 0, gen)
with torch.no_grad():
    z, z_ref = response_logits(grpo_policy, ro3.prompt, ro3.response), response_logits(ref_policy, ro3.prompt, ro3.response)
lp = torch.log_softmax(z / TEMPERATURE, -1).gather(2, ro3.response[..., None])[..., 0]
lq = torch.log_softmax(z_ref / TEMPERATURE, -1).gather(2, ro3.response[..., None])[..., 0]
m = ro3.mask
exact = (exact_kl(z, z_ref, TEMPERATURE) * m).sum(1)
print(f"exact KL per line: {exact.mean():.3f} nats")
for name, per_token in (("k1", kl_k1(lp, lq, m)), ("k2", kl_k2(lp, lq, m)), ("k3", k3_fn(lp, lq) * m)):
    per_line = per_token.sum(1)
    print(f"{name}: mean {per_line.mean():.3f} | std over lines {per_line.std():.3f} | "
          f"negative tokens {(per_token[m] < 0).float().mean():.0%}")

# %% [markdown]
# k1 and k3 agree with the exact value on average (k2 is biased), but k1 is negative on many tokens,
# which as a loss term would *reward* moving away from the reference on those tokens. k3 is never
# negative, which is why GRPO uses it as a per-token penalty.
#
# ## 6 · PPO vs GRPO vs RLOO
#
# Three runs of 30 updates, each on 32 lines per update, the same reward (the annotator's rule in standard
# units), the same β = 0.2, learning rate (5e-5) and clipping. (β does not weigh quite the same thing in
# the three: PPO and RLOO put Σ_t KL_t into the reward, GRPO adds the per-token mean of k3 to the loss.) They take a few minutes together, so they were **precomputed** by
# `python -m lmrl_course.scripts.make_rlhf_assets` and are loaded from `assets/rlhf_method_comparison.json`;
# the GRPO run of section 5 is drawn on top (it ran here, with 25 updates).

# %%
from lmrl_course.paths import ASSETS_DIR

comparison = json.loads((ASSETS_DIR / "rlhf_method_comparison.json").read_text())
print(f"{'method':6} | {'held-out score':>14} | {'KL':>6} | {'wall time':>9} | a line after training")
b = comparison["base"]
print(f"{'base':6} | {b['gold']:14.3f} | {b['kl']:6.2f} | {'':>9} | {b['samples'][0]!r}")
for run in comparison["runs"]:
    f, h = run["final"], run["history"]
    print(f"{run['method']:6} | {f['gold']:14.3f} | {f['kl']:6.2f} | {h['time_s'][-1]:8.0f}s | {f['samples'][0]!r}")

# %%
colors = {"ppo": "tab:blue", "grpo": "tab:orange", "rloo": "tab:green"}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for run in comparison["runs"]:
    h = run["history"]
    axes[0].plot(h["kl"], h["gold"], ".-", c=colors[run["method"]], alpha=0.7, label=run["method"].upper())
    axes[1].plot(h["time_s"], h["gold"], c=colors[run["method"]], label=run["method"].upper())
if "grpo_hist" in globals():
    axes[0].plot(grpo_hist["kl"], grpo_hist["gold"], "x", c="tab:orange", alpha=0.5, label="GRPO (live, this notebook)")
axes[0].set_xlabel("KL(π_θ ‖ π_ref) per line (nats)"); axes[0].set_ylabel("annotator score (batch mean)")
axes[0].set_title("reward vs KL, one point per update"); axes[0].legend(fontsize=8)
axes[1].set_xlabel("wall time (s, one CPU thread, precomputed)"); axes[1].set_ylabel("annotator score")
axes[1].set_title("reward vs wall time"); axes[1].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# How to read it: a method is better if it reaches more reward **at the same KL** (left), and in less time
# (right). Here the three lie close to one frontier: at a given KL they score about the same. What differs
# is how far each travels along it in 30 updates with the same β: PPO stays near 2 nats, GRPO and RLOO go
# to about 4. β is not the same leash in all three (PPO and RLOO put β·Σ_t KL_t into the reward, PPO's
# advantages see that penalty token by token, GRPO adds β times a per-token mean to the loss), so compare
# methods at equal KL, not at equal β. An update costs about the same in all three (about 2 s on one thread
# of the busy, shared CPU the runs were made on; `bench/bench_rlhf.py` measures it on yours): per update, the three do the same sampling and the same number of gradient steps; PPO also
# trains the value head (a small cost here, since it shares the GPT's forward pass; in a large-model
# setting the critic is a second full network, which is the memory GRPO and RLOO save). Each curve is a
# single seed: read the overall shape, not differences of a few hundredths.
#
# > **Common mistake: dividing by the group's std without an ε.** A group whose lines all score the same
# > (here: four lines that are all too short, score 0) has std 0, and 0/0 is `nan`. One `nan` advantage
# > makes the loss `nan` and, after one optimiser step, every weight of the model.

# %%
seed_everything(4)
rewards_with_tie = torch.tensor([[0.31, 0.42, 0.38, 0.35], [0.0, 0.0, 0.0, 0.0]])
no_eps = (rewards_with_tie - rewards_with_tie.mean(1, keepdim=True)) / rewards_with_tie.std(1, keepdim=True)
print("mistake, no ε :", [[round(v, 2) for v in row] for row in no_eps.tolist()])
print("right, with ε :", [[round(v, 2) for v in row] for row in grpo_adv(rewards_with_tie).tolist()])
logp = torch.randn(2, 4, requires_grad=True)
print("loss with the mistake:", (-(no_eps * logp).mean()).item(), "| with the fix:",
      round((-(grpo_adv(rewards_with_tie) * logp).mean()).item(), 4))

# %% [markdown]
# ## Check yourself
#
# - Why do GRPO's advantages of a group sum to zero, and what does a group of equal rewards contribute?
# - RLOO's baseline for line $i$ leaves line $i$ out. Why would including it bias the gradient?
#   (Hint: $\frac{k}{k-1}$.)
# - k1 is unbiased too. Why does GRPO use k3 as its per-token penalty?
# - What does PPO's value head buy, and what does it cost, for a 32-character line with one reward at the end?
#
# **Where next:** this is the end of the course's path from cross-entropy to RL fine-tuning. Things to try:
# the cheerful-word annotator (`KeywordAnnotator`), a reward model trained on the GPT's own samples instead
# of lines of the play, a larger group size k, or GRPO without the std division (`scale_rewards=False`).
