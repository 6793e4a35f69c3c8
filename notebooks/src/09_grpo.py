# %% [markdown]
# # 09 · GRPO and RLOO: policy gradients without a value network
#
# **What you will build:** two value-free versions of notebook 08's fine-tuning. Instead of learning a
# critic $V_\phi$, they sample a **group** of $k$ lines for every prompt and let each line be judged
# against its siblings: **GRPO** (group-relative policy optimisation, DeepSeekMath 2024) standardises the
# rewards within the group and adds the KL to the reference as a loss term with the **k3 estimator**;
# **RLOO** (REINFORCE leave-one-out) uses the mean reward of the *other* $k-1$ lines as the baseline.
# You will compare both with PPO on the same task: reward reached, KL paid, wall time, over three seeds.
#
# **Learning goals**
# - Compute group-relative and leave-one-out advantages, and say why a group of equal rewards teaches nothing.
# - Estimate the KL to the reference with k1, k2 and k3, check them against the exact KL, and say — from an
#   exact computation of every gradient — which estimator belongs in the reward and which in the loss.
# - Run GRPO live and read a multi-seed comparison of PPO, GRPO and RLOO at matched KL and matched wall time.
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
# Same task as notebook 08: write the next line of the play, N ≤ 64 characters, sampled at τ = 0.7, and a
# line that reaches the cap without ending loses 1 from its reward (the missing-EOS penalty). For the live
# run of this notebook we skip the learned reward model and reward with the **annotator's rule itself**
# (the vowel share, shrunk towards the average for short lines, vowels counted only inside words of the play:
# an invented word brings letters and no vowels). A reward computed by a program is where
# GRPO became best known: DeepSeek-R1 (2025) trained with it on maths answers checked by rules (the original
# DeepSeekMath paper of 2024 rewarded GRPO with a learned reward model).
#
# The rule's scores are small numbers, while the KL penalty and the missing-EOS penalty are counted in nats and in
# standard units. So that the penalty of 1 sits on the score's scale (and so that PPO's and RLOO's β·Σ_t k1 compare
# with notebook 08's), the reward is put in standard units, $s = (\text{score} - \text{mean}) / \text{std}$, with
# the mean and std of the score over the play's own lines. GRPO's own advantages do not depend on the reward's
# scale (each group is divided by its std), and its β multiplies a k3 term in the loss, not a KL in the reward, so
# its β = 0.2 below is not notebook 08's 0.05. The figures show the annotator's raw score.

# %%
from lmrl_course.data import load_text
from lmrl_course.gpt import load_pretrained
from lmrl_course.rlhf import annotator_reward_fn, course_annotator, decode_responses, sample_responses
from lmrl_course.rlhf.tasks import MAX_NEW_TOKENS, TEMPERATURE, rule_reward_stats, shakespeare_prompts

gpt, tokenizer = load_pretrained(device=device)
ref_policy = copy.deepcopy(gpt).eval()
text = load_text()
train_prompts, test_prompts = shakespeare_prompts(text, tokenizer)
EOS = tokenizer.stoi["\n"]
annotator = course_annotator(text)                                          # notebook 08's annotator
offset, scale = rule_reward_stats(text, annotator)
print(f"annotator score over the play's lines: mean {offset:.3f}, std {scale:.3f}")
reward_fn = annotator_reward_fn(annotator, tokenizer, EOS, offset, scale)   # (prompt, response, mask) -> (B,)
gold_fn = annotator_reward_fn(annotator, tokenizer, EOS)                    # the raw score, for the figures

# %% [markdown]
# A **group**: k = 4 lines for each of 3 prompts. Prompts differ in how easy they make a high score; the
# group's own mean is a baseline for *this* prompt, which a single batch-wide baseline is not. The two
# lowest lines of prompt 0 hold an invented word each ("trother", "remish"), whose vowels the rule does not count.

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
# Within a group the advantages sum to zero: lines above the group's mean are pushed up, those below it down
# (not necessarily half and half). **Your turn:** write `group_advantages(rewards)` for a (G, k) tensor (one row per prompt), with the
# sample standard deviation of each row (torch's default) and $\epsilon = 10^{-4}$ added to it. The check
# includes a row of equal rewards (it must give 0, not `nan`), groups of k = 2, and a float64 tensor whose
# dtype must be kept.

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
# epochs and minibatches as PPO and GRPO. Against GRPO, then, the advantage differs and so does where the KL sits
# (RLOO's β Σ_t KL_t is in the reward, GRPO's is a k3 term in the loss); against PPO, the advantage differs and
# the batch is 8 prompts × 4 lines instead of 32 prompts × 1, and there is no value head. (With one epoch *and* one minibatch
# the ratio is 1 at the only step, the clip never binds and the two coincide; with two minibatches the second
# step is already off-policy.) **Your turn:** `rloo_advantages(rewards)`, (G, k) in, (G, k) out, on the same
# cases as `group_advantages` (equal rewards, k = 2, float64 kept); no ε is needed, nothing is divided by a std.

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
# **Your turn:** write `k3_estimator(logp, ref_logp)` (per token, same shape and dtype as the inputs; one
# case is float64). It must stay finite and ≥ 0 for log-ratios of ±20, and the check compares gradients too.

# %% tags=["exercise"]
# EXERCISE: k3_estimator
def k3_estimator(logp, ref_logp):
    # Replace the next line with your code (two lines).
    raise NotImplementedError

# %%
result = check("k3_estimator", k3_estimator)
result

# %% [markdown]
# ### Which estimator in the loss, which in the reward
#
# k1, k2 and k3 estimate the KL's **value**. A loss term needs the right **gradient**, and that is another
# question: the tokens were sampled from $\pi_\theta$, and autograd through $k(x)$ does not see that the
# sampling itself depends on θ. We can settle it exactly on a small categorical distribution,
# $\pi_\theta = \mathrm{softmax}(\theta)$ over 6 outcomes, by **enumerating** the outcomes instead of sampling
# them: the expected gradient of a loss term $k$ is $\sum_x \pi_\theta(x)\,\nabla_\theta k(x)$ (the weights
# $\pi_\theta(x)$ are the sampler's, constants). Putting $-\beta\,k_1$ into the *reward* instead (PPO, RLOO)
# makes the policy gradient supply the score-function term $\sum_x \pi_\theta(x)\,k_1(x)\,\nabla_\theta \log \pi_\theta(x)$.
# `expected_estimator_gradients` computes the four; we compare them with autograd of the two true KLs.

# %%
from lmrl_course.rlhf import expected_estimator_gradients

seed_everything(5)
theta = torch.randn(6, dtype=torch.float64)          # π_θ = softmax(θ)
ref_logits = torch.randn(6, dtype=torch.float64)     # π_ref
logq = torch.log_softmax(ref_logits, 0)


def grad_of(kl_of_logp):
    th = theta.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(kl_of_logp(torch.log_softmax(th, 0)), th)
    return g


grad_forward = grad_of(lambda lp: (lp.exp() * (lp - logq)).sum())    # ∇ KL(π_θ ‖ π_ref)
grad_reverse = grad_of(lambda lp: (logq.exp() * (logq - lp)).sum())   # ∇ KL(π_ref ‖ π_θ)
print(f"|∇KL(π‖ref)| = {grad_forward.norm():.3f}, |∇KL(ref‖π)| = {grad_reverse.norm():.3f}, "
      f"|difference| = {(grad_forward - grad_reverse).norm():.3f}")
print(f"{'usage':22} | {'|E∇|':>7} | {'dist. to ∇KL(π‖ref)':>20} | {'dist. to ∇KL(ref‖π)':>20}")
for name, g in expected_estimator_gradients(theta, ref_logits).items():
    label = {"k1_loss": "k1 as a loss term", "k2_loss": "k2 as a loss term", "k3_loss": "k3 as a loss term",
             "k1_reward": "−β·k1 in the reward"}[name]
    print(f"{label:22} | {g.norm():7.3f} | {(g - grad_forward).norm():20.1e} | {(g - grad_reverse).norm():20.1e}")

# %% [markdown]
# The exact gradients, every one of them:
#
# | usage | expected gradient | why |
# |---|---|---|
# | k1 as a loss term | **0** | $\sum_x \pi_\theta \nabla \log \pi_\theta = \nabla \sum_x \pi_\theta = 0$: no pull towards π_ref at all, whatever k1's sign |
# | k2 as a loss term | ∇KL(π_θ ‖ π_ref) | $\nabla k_2 = l(x)\,\nabla \log \pi_\theta$ with $l = \log(\pi_\theta/\pi_\text{ref}) = -\log\rho$, and $\sum_x \pi_\theta\, l(x)\, \nabla \log \pi_\theta$ is the score-function form of that gradient |
# | k3 as a loss term | ∇KL(π_ref ‖ π_θ) | $\sum_x \pi_\theta (1 - \pi_\text{ref}/\pi_\theta) \nabla \log \pi_\theta = -\sum_x \pi_\text{ref} \nabla \log \pi_\theta$: the *other* direction |
# | −β·k1 in the reward | ∇KL(π_θ ‖ π_ref) | the policy gradient adds the term autograd alone misses |
#
# (The table gives the gradients of the loss to be minimised, divided by β: a reward of −β·k1 gives the loss
# gradient +β∇KL(π_θ ‖ π_ref).) So, for one sampled token, **k1 belongs in the reward** (PPO, RLOO), and in the
# loss one needs k2 (the gradient of the objective's KL, KL(π_θ ‖ π_ref)) or k3: GRPO's k3 term pulls towards π_ref
# too, but along the gradient of the other direction, $\mathrm{KL}(\pi_\text{ref}\,\|\,\pi_\theta)$. (Names differ:
# much of the RLHF literature calls KL(π_θ ‖ π_ref) the *reverse* KL; this notebook names the two by their
# arguments.) Over a whole line there is one more difference: a k2 or k3 term in the loss gives the gradient of each
# position's KL at the sampled prefix, while k1 summed into the return also credits an earlier token for the KL of
# the tokens after it.
# Near π_ref the two directions agree to first order; far from it they do not. k1's negative values have
# nothing to do with it: its gradient as a loss is zero in expectation either way.
#
# ## 5 · A live GRPO run
#
# 8 prompts × 4 lines = 32 lines per update (the same number as PPO's batch in notebook 08), 2 epochs
# × 2 minibatches of the clipped surrogate, β = 0.2, the annotator's rule as the reward, 10 updates.
# The loss is a mean over all real tokens of a minibatch (a token-level mean, as in DAPO and one of TRL's
# `loss_type` options; Dr. GRPO divides by a fixed constant instead); DeepSeekMath's paper
# writes a per-response average $\frac1G \sum_i \frac{1}{|o_i|} \sum_t$, which gives each response the same total
# weight whatever its length (and each token of a short response more).

# %%
from lmrl_course.rlhf import GroupConfig, GroupTrainer, evaluate_policy
from lmrl_course.rlhf.tasks import RULE_GROUP_RECIPE

grpo_cfg = GroupConfig(method="grpo", **RULE_GROUP_RECIPE)
print(grpo_cfg)

# %% tags=["solutions-skip"]
seed_everything(2)
grpo_policy = copy.deepcopy(gpt)
grpo = GroupTrainer(grpo_policy, ref_policy, reward_fn, grpo_cfg, eos_id=EOS, device=device, seed=0, gold_fn=gold_fn)
t0 = time.perf_counter()
grpo_hist = grpo.train(train_prompts, 10, progress=True)
print(f"took {time.perf_counter() - t0:.2f} s")
print("annotator score per update:", [round(v, 3) for v in grpo_hist["gold"]])
print("KL per line (Σ k1)        :", [round(v, 2) for v in grpo_hist["kl"]])
print("entropy per token         :", [round(v, 2) for v in grpo_hist["entropy"]])
print("lines cut at N (no EOS)   :", [round(v, 2) for v in grpo_hist["truncated_fraction"]])

# %% tags=["solutions-skip"]
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
axes[0].plot(grpo_hist["update"], grpo_hist["gold"])
axes[0].set_xlabel("update"); axes[0].set_ylabel("annotator score")
axes[1].plot(grpo_hist["update"], grpo_hist["kl"], label="Σ k1")
axes[1].plot(grpo_hist["update"], grpo_hist["kl_k3"], label="Σ k3")
axes[1].set_xlabel("update"); axes[1].set_ylabel("KL per line (nats)"); axes[1].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# In 10 updates the annotator's score stays within batch noise (0.350 to 0.378, printed above; the play's own lines
# average 0.377) while the KL grows to about 1 nat: this short run shows the mechanics (its recipe,
# `RULE_GROUP_RECIPE`, uses β = 0.2 and lr 5e-5, not section 6's 0.05 and 1e-4); section 6's 30-update runs show
# the learning.
#
# The three estimators on the policy GRPO just trained, against the **exact** KL,
# $\sum_t \sum_v \pi_\theta(v \mid s_t)\log\frac{\pi_\theta(v \mid s_t)}{\pi_\text{ref}(v \mid s_t)}$, computed from both
# models' full next-character distributions, on 128 held-out lines:

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
print(f"exact KL per line: {exact.mean():.3f} ± {exact.std() / len(exact) ** 0.5:.3f} nats (± 1 s.e. over lines)")
for name, per_token in (("k1", kl_k1(lp, lq, m)), ("k2", kl_k2(lp, lq, m)), ("k3", k3_fn(lp, lq) * m)):
    per_line = per_token.sum(1)
    print(f"{name}: mean {per_line.mean():.3f} ± {per_line.std() / len(per_line) ** 0.5:.3f} | std over lines "
          f"{per_line.std():.3f} | negative tokens {(per_token[m] < 0).float().mean():.0%}")

# %% [markdown]
# As *values*, k1 and k3 are unbiased estimates of the same number and k2 is biased in theory; on these 128
# lines all three means lie within one standard error of the exact 1.363 (k1's 1.250 ± 0.124 is the farthest),
# so k2's bias does not show at this small KL. What does show is the noise: k1's std over lines (1.40) is about
# 1.3 times k3's (1.09), and k1 is negative on 43 % of the tokens, k3 never is. For the
# *gradient* that matters in a loss, the enumeration above is the answer: k3 (or k2), not k1.
#
# ## 6 · PPO vs GRPO vs RLOO, three seeds
#
# The comparison uses notebook 08's setting: all three methods are trained on the **reward model** (learned from
# the annotator's preference pairs), the annotator's score (the "gold" score) is only measured. Gold counts
# vowels only inside words of the play; the reward model learned from the play's own lines, where that rule
# never bites, and credits an invented word's vowels (notebook 08, section 3). Each runs
# 30 updates of 32 lines (PPO: 32 prompts; GRPO and RLOO: 8 prompts × 4), learning rate 1e-4, β = 0.05 (in PPO
# and RLOO on Σ_t k1 in the reward, in GRPO on the token-mean of k3 in the loss: not the same leash, so
# compare at matched KL), the missing-EOS penalty, three seeds each. They take several minutes together (nine
# runs of 30 updates at about 1.8 s each, the table's last column, plus the evaluations), so they
# were **precomputed** by `python -m lmrl_course.scripts.make_rlhf_assets --only compare` and are loaded from
# `assets/rlhf_method_comparison.json` (notebook 10 adds DPO and best-of-n from the same file). The held-out
# evaluation: 128 prompts, mean ± std over the seeds.

# %%
from lmrl_course.paths import ASSETS_DIR
from lmrl_course.rlhf.results import mean_std, runs_of, smooth, value_at

comparison = json.loads((ASSETS_DIR / "rlhf_method_comparison.json").read_text())
methods = ("ppo", "grpo", "rloo")
seeds = sorted({r["seed"] for r in comparison["runs"]})
print(f"reward model: {comparison['reward_model']['test_accuracy']:.1%} held-out accuracy | seeds {seeds}")
cols = ("gold", "score", "kl", "truncated_fraction", "length", "rm_agreement")
print(f"{'method':6} | {'gold':>13} | {'proxy (RM)':>13} | {'KL (nats)':>12} | {'cut at N':>11} | {'length':>10} | "
      f"{'RM agrees':>11} | {'1 update':>9}")
b = comparison["base"]
print(f"{'base':6} | {b['gold']:13.3f} | {b['score']:+13.2f} | {b['kl']:12.2f} | {b['truncated_fraction']:11.1%} | "
      f"{b['length']:10.1f} | {b['rm_agreement']:11.1%} |")
for meth in methods:
    rs = runs_of(comparison["runs"], method=meth)
    ms = {c: mean_std([r["final"][c] for r in rs]) for c in cols}
    t = mean_std([r["update_s"] for r in rs])
    print(f"{meth:6} | {ms['gold'][0]:6.3f} ± {ms['gold'][1]:.3f} | {ms['score'][0]:+6.2f} ± {ms['score'][1]:.2f} | "
          f"{ms['kl'][0]:5.1f} ± {ms['kl'][1]:4.1f} | {ms['truncated_fraction'][0]:4.1%} ± {ms['truncated_fraction'][1]:.1%} | "
          f"{ms['length'][0]:4.1f} ± {ms['length'][1]:3.1f} | {ms['rm_agreement'][0]:4.1%} ± {ms['rm_agreement'][1]:.1%} | "
          f"{t[0]:7.2f} s")
for meth in methods:
    print(f"{meth}: {runs_of(comparison['runs'], method=meth, seed=seeds[0])[0]['final']['samples'][:2]}")

# %%
colors = {"ppo": "tab:blue", "grpo": "tab:orange", "rloo": "tab:green"}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for meth in methods:
    for j, r in enumerate(runs_of(comparison["runs"], method=meth)):
        h = r["history"]
        lab = meth.upper() if j == 0 else None
        axes[0].plot(smooth(h["kl"]), smooth(h["gold"]), "-", c=colors[meth], alpha=0.6, label=lab)
        axes[1].plot(h["time_s"], smooth(h["gold"]), "-", c=colors[meth], alpha=0.6, label=lab)
    rs = runs_of(comparison["runs"], method=meth)
    (gm, gs), (km, ks) = mean_std([r["final"]["gold"] for r in rs]), mean_std([r["final"]["kl"] for r in rs])
    axes[0].errorbar([km], [gm], xerr=[ks], yerr=[gs], fmt="o", c=colors[meth], capsize=3)
axes[0].set_xlabel("KL(π_θ ‖ π_ref) per line (nats)"); axes[0].set_ylabel("annotator score (gold)")
axes[0].set_title("gold vs KL: lines = 5-update averages, one per seed;\ndots = held-out mean ± std", fontsize=9)
axes[0].legend(fontsize=8)
axes[1].set_xlabel("wall time (s, one CPU thread of a shared machine)"); axes[1].set_ylabel("annotator score (gold)")
axes[1].set_title("gold vs wall time", fontsize=9); axes[1].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# **Matched KL and matched wall time.** Read off each run's gold score where its KL first (5-update averages of both)
# reaches a given number of nats, and where its clock reaches the total training time of the fastest of the nine
# runs (every run has got that far, so all are compared at the same time):

# %%
t_common = min(r["history"]["time_s"][-1] for r in comparison["runs"])
kl_levels = (2.0, 5.0, 10.0)
print(f"{'method':6} | " + " | ".join(f"gold at KL = {x:4.1f}" for x in kl_levels) + f" | gold at t = {t_common:.0f} s"
      + " | KL at t | updates done by t (per seed)")
for meth in methods:
    rs = runs_of(comparison["runs"], method=meth)
    cells = []
    for x in kl_levels:
        vals = [value_at(smooth(r["history"]["kl"]), smooth(r["history"]["gold"]), x) for r in rs]
        m_, s_ = mean_std(vals)
        n_ok = sum(v == v for v in vals)
        cells.append(f"{m_:.3f} ± {s_:.3f} ({n_ok}/{len(rs)})" if n_ok else f"{'not reached':>18}")
    m_, s_ = mean_std([value_at(r["history"]["time_s"], smooth(r["history"]["gold"]), t_common) for r in rs])
    km_, ks_ = mean_std([value_at(r["history"]["time_s"], smooth(r["history"]["kl"]), t_common) for r in rs])
    done = [sum(t <= t_common for t in r["history"]["time_s"]) for r in rs]
    print(f"{meth:6} | " + " | ".join(cells) + f" | {m_:.3f} ± {s_:.3f} | {km_:5.1f} ± {ks_:.1f} | {done}")

# %% [markdown]
# How to read it: a method is better if it reaches more gold score **at the same KL**, and in less time. The
# count in brackets is how many of the seeds got that far in 30 updates.
#
# **What the data shows** (three seeds, mean ± std). At matched KL the three are close: at 2, 5 and 10 nats
# their gold scores lie within 0.021 of each other, at most about twice the spread across seeds (the widest
# gap: PPO 0.448 ± 0.011 against RLOO 0.427 ± 0.014 at 10 nats). The means rank RLOO, PPO, GRPO at 2 and 5 nats
# and PPO, GRPO, RLOO at 10; PPO's mean is above GRPO's at every level, by 0.003 to 0.014, less than about two
# seed-stds; three seeds name no winner. They differ in
# how far they travel in 30 updates with the same β and learning rate: GRPO to 22.7 ± 1.3 nats, PPO and RLOO
# to about 14 nats (15.0 ± 1.1 and 13.7 ± 1.3). Their final gold scores do not separate: GRPO 0.500 ± 0.021,
# RLOO 0.494 ± 0.011, PPO 0.486 ± 0.006, gaps smaller than GRPO's spread across seeds. At matched wall time
# both value-free methods' means are above PPO's (GRPO 0.474 ± 0.006, RLOO 0.480 ± 0.021, PPO 0.454 ± 0.010).
# It does not come from more updates (24–28 and 25–27 done by then, against PPO's 24–30): in about as many they
# had moved further from π_ref (KL 17.7 ± 3.0 and 14.5 ± 0.9 against 11.3 ± 0.8 nats), and up to 10 nats, the
# highest KL tabulated, the three are close at matched KL, which suggests the lead is the distance travelled (the
# table does not compare them at 11–20 nats). They write different lines: PPO's get short (18.8 ± 4.9 characters),
# GRPO's long (47.2 ± 2.4), RLOO's in between (33.8 ± 2.4), and the printed samples lean on the vowel-rich
# 'you', a word of the play, whose vowels the annotator counts. Notebook 08's section 7 tests two suspects (the
# taste's ceiling and the summed KL) and settles neither; the methods differ in more than their KL (RLOO subtracts the same total Σ_t k1 from a line's return as PPO
# and its lines shorten much less, 33.8 ± 2.4 against 18.8 ± 4.9 characters, base 38.1; GRPO's KL is a k3 loss term in no advantage, and its advantages are divided by the group's
# std). And the reward model agrees with the annotator on 83.1 ± 4.1 % of the pairs of PPO's lines against
# 75.6 ± 4.9 % of GRPO's, 76.6 ± 4.2 % of RLOO's and 75.4 % of the base model's: PPO's mean is the highest, but
# its mean ± std overlaps both others', so three seeds show a tendency at most (PPO's lines are the shortest,
# with fewer chances of an invented word; these runs do not test that). All of these lie far below the reward
# model's 96.8 % on pairs of the play's lines; on the base model's lines notebook 08 (section 3) traces that gap
# to invented words, whose vowels the reward model credits and the annotator does not.
# On average under 2 % of any method's lines hit the cap (GRPO's 1.6 %, the base model's 1.6 %).
# An update costs about the same in
# the three (1.79, 1.88 and 1.83 s, within about 5 %, the table's last column): per update they do the same sampling and the same number of gradient
# steps; PPO also trains the value head, cheap here since it shares the GPT's forward pass (for a large
# model the critic is a second full network, the memory GRPO and RLOO save). Differences smaller than the
# spread across seeds are not differences.
#
# > **Common mistake: dividing by the group's std without an ε.** A group whose lines all score the same
# > (here: four lines with the same score, e.g. four empty ones) has std 0, and 0/0 is `nan`. One `nan`
# > advantage makes the loss `nan`, and so every gradient (gradient clipping does not help: the norm is `nan` too),
# > and an optimiser step with it writes `nan` into the weights.

# %%
seed_everything(4)
rewards_with_tie = torch.tensor([[0.31, 0.42, 0.38, 0.35], [0.37, 0.37, 0.37, 0.37]])
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
# - k1 is an unbiased estimate of the KL. Why is it useless as a loss term, and why is it right in the reward?
# - GRPO's k3 loss term: the gradient of which KL does it follow?
# - What does PPO's value head buy, and what does it cost, for a line with one reward at the end?
#
# **Next:** notebook 10 drops RL: DPO fits the preference pairs directly, without a reward model, and best-of-n
# (the reward model picks the best of n samples of the base model, no training at all) is the baseline all these
# methods must beat.
