# %% [markdown]
# # 10 · DPO and best-of-n: preference learning without RL, and the baseline every method must beat
#
# **What you will build:** two alternatives to notebooks 08–09's reinforcement learning. **Best-of-n**
# trains nothing: sample n lines, keep the one the reward model likes best. **DPO** (Direct Preference
# Optimisation, Rafailov et al. 2023) trains the GPT directly on the annotator's preference pairs, with no
# reward model and no sampling during training. Then all five methods — PPO, GRPO, RLOO, DPO, best-of-n —
# on one gold-score-vs-KL figure, three seeds each.
#
# **Learning goals**
# - Derive the DPO loss from the KL-regularised RLHF objective and write it.
# - Know best-of-n's KL, $\log n - (n-1)/n$, and check it against an exact computation.
# - Read a multi-method comparison at matched KL, with truncation and wall time.
#
# **Prerequisites:** notebooks 08 (the task, the reward model, the preference pairs) and 09 (GRPO, RLOO).

# %%
# %matplotlib inline
import copy
import json
import math
import time

import matplotlib.pyplot as plt
import torch

from lmrl_course.device import setup_notebook, seed_everything

device = setup_notebook(seed=0)

# %% [markdown]
# ## 1 · From the RLHF objective to a classification loss
#
# Notebook 08's PPO maximises $\mathbb E_{y \sim \pi}[r(y)] - \beta\,\mathrm{KL}(\pi \,\|\, \pi_\text{ref})$ for each prompt $x$.
# That objective has a closed-form optimum,
#
# $$\pi^*(y \mid x) = \frac{1}{Z(x)}\,\pi_\text{ref}(y \mid x)\, e^{r(x, y)/\beta}
# \quad\Longleftrightarrow\quad r(x, y) = \beta \log \frac{\pi^*(y \mid x)}{\pi_\text{ref}(y \mid x)} + \beta \log Z(x).$$
#
# Put this reward into the Bradley–Terry likelihood of a pair $y_c \succ y_r$ **of the same prompt**: the
# $\beta \log Z(x)$ terms cancel, and fitting the reward becomes fitting the policy,
#
# $$L_\text{DPO}(\theta) = -\frac1M \sum \log \sigma\Big(\beta\big[\underbrace{(\log \pi_\theta(y_c) - \log \pi_\text{ref}(y_c))}_{\text{chosen}}
# - \underbrace{(\log \pi_\theta(y_r) - \log \pi_\text{ref}(y_r))}_{\text{rejected}}\big]\Big),$$
#
# with **sequence** log-probs $\log \pi(y \mid x) = \sum_t \log \pi(y_t \mid x, y_{<t})$, taken at the sampling
# temperature τ = 0.7 like every log-prob of the course. $\beta \log \pi_\theta/\pi_\text{ref}$ is DPO's *implicit
# reward*. **Your turn:** `dpo_loss(policy_chosen_logp, policy_rejected_logp, ref_chosen_logp, ref_rejected_logp, beta)`,
# (M,) tensors in, the mean loss over the pairs (a scalar) out; it must survive margins of hundreds of nats
# (β = 2 on log-probs of −400), keep the dtype (one case is float64), and its gradients are compared too.

# %% tags=["exercise"]
# EXERCISE: dpo_loss
def dpo_loss(policy_chosen_logp, policy_rejected_logp, ref_chosen_logp, ref_rejected_logp, beta):
    # Replace the next line with your code (about three lines).
    raise NotImplementedError

# %%
from lmrl_course.exercises import check

result = check("dpo_loss", dpo_loss)
result

# %%
dpo = result.function
lp = torch.tensor([-20.0, -35.0])
print("policy = reference:", round(dpo(lp, lp.flip(0), lp, lp.flip(0), 0.1).item(), 4), "= log 2 =", round(math.log(2), 4))
print("chosen 5 nats more likely than under π_ref, β = 0.1:",
      round(dpo(lp + 5, lp.flip(0), lp, lp.flip(0), 0.1).item(), 4), "=", round(math.log1p(math.exp(-0.5)), 4))

# %% [markdown]
# ## 2 · DPO on the course's GPT
#
# The same preference pairs the reward model of notebook 08 learned from: lines of the play, labelled by the
# vowel annotator, each pair with the prompt before its first line. (Both lines are scored as answers to that
# prompt, which is what DPO needs, though the second line comes from elsewhere in the play; and since neither
# line was sampled from the GPT, this is DPO on *off-policy* data, the common case in practice.) A live run:
# 10 steps of 32 pairs, β = 0.1, learning
# rate 1e-4; the full epoch (43 steps), three seeds, is in the precomputed comparison below.
#
# Every sequence log-prob here comes from the per-token log-probs of notebook 08 (`response_logprobs`, at τ)
# and the response mask. **Your turn:** `sequence_logprob(token_logp, mask)`, (B, N) and (B, N) bool in, (B,) out.
# The checker's padding positions hold numbers that must not count; keep the dtype (one case is float64);
# gradients are compared too.

# %% tags=["exercise"]
# EXERCISE: sequence_logprob
def sequence_logprob(token_logp, mask):
    # Replace the next line with your code (one line).
    raise NotImplementedError

# %%
result_seq = check("sequence_logprob", sequence_logprob)
result_seq

# %%
from lmrl_course.data import load_text
from lmrl_course.gpt import load_pretrained
from lmrl_course.rlhf import annotator_reward_fn, course_annotator, decode_responses, evaluate_policy, train_dpo
from lmrl_course.rlhf.tasks import (DPO_RECIPE, MAX_NEW_TOKENS, TEMPERATURE, course_preference_pairs,
                                    shakespeare_prompts)

gpt, tokenizer = load_pretrained(device=device)
ref_policy = copy.deepcopy(gpt).eval()
text = load_text()
train_prompts, test_prompts = shakespeare_prompts(text, tokenizer)
EOS = tokenizer.stoi["\n"]
pairs, _ = course_preference_pairs(tokenizer, text)
print(f"{len(pairs)} preference pairs; the first: prompt {tokenizer.decode(pairs.prompts[0].tolist())!r}")
print(f"   chosen {pairs.chosen_text[0]!r} | rejected {pairs.rejected_text[0]!r}")
print(DPO_RECIPE)

# %% tags=["solutions-skip"]
seed_everything(1)
dpo_policy = copy.deepcopy(gpt)
live = pairs.split(10 * 32)[0]                       # the first 10 minibatches' worth of pairs
t0 = time.perf_counter()
dpo_hist = train_dpo(dpo_policy, ref_policy, live, beta=DPO_RECIPE["beta"], lr=DPO_RECIPE["lr"], batch_size=32,
                     temperature=TEMPERATURE, seed=0, progress=True)
print(f"took {time.perf_counter() - t0:.2f} s")
print("loss             :", [round(v, 3) for v in dpo_hist["loss"]])
print("implicit-reward accuracy on the minibatch:", [round(v, 2) for v in dpo_hist["reward_acc"]])
print("on the minibatch's lines, Σ_t k1 = log π_θ/π_ref:", [round(v, 2) for v in dpo_hist["kl"]])
print("entropy of π_θ on those lines (nats/token)   :", [round(v, 3) for v in dpo_hist["entropy"]])

# %% tags=["solutions-skip"]
gold_fn = annotator_reward_fn(course_annotator(text), tokenizer, EOS)
held_out = test_prompts[:64].to(device)
for name, pol in (("base", ref_policy), ("DPO, 10 steps", dpo_policy)):
    ev = evaluate_policy(pol, ref_policy, held_out, gold_fn, MAX_NEW_TOKENS, TEMPERATURE, EOS, seed=2)
    lines = decode_responses(tokenizer, ev["rollout"].response[:2], ev["rollout"].mask[:2], strip_eos=EOS)
    print(f"{name:14}: gold {ev['score']:.3f} | KL {ev['kl']:.2f} nats | length {ev['length']:.1f} | "
          f"cut at N {ev['truncated_fraction']:.0%} | {lines}")

# %% [markdown]
# (The implicit-reward accuracy counts a pair as right when its margin is > 0; at step 0 every margin is exactly 0,
# π_θ = π_ref, so it starts at 0.0 without meaning every pair is wrong.)
#
# > **Common mistake: leaving π_ref out of the loss**, $-\log\sigma(\beta[\log \pi_\theta(y_c) - \log \pi_\theta(y_r)])$. Before any
# > step, π_θ = π_ref, so the right loss is exactly log 2 on every pair: no pair is favoured yet. Without the
# > reference, the starting "margin" is the base model's own log-prob difference between the two lines, and a
# > sequence log-prob is mostly a matter of **length** (every extra character costs nats). On 256 pairs:

# %%
from lmrl_course.rlhf import sequence_logprobs

sub = pairs.split(256)[0]
with torch.no_grad():
    lc = sequence_logprobs(ref_policy, sub.prompts, sub.chosen, sub.chosen_mask, TEMPERATURE)
    lr_ = sequence_logprobs(ref_policy, sub.prompts, sub.rejected, sub.rejected_mask, TEMPERATURE)
beta = DPO_RECIPE["beta"]
right = dpo(lc, lr_, lc, lr_, beta)                  # policy = reference at step 0
wrong = torch.nn.functional.softplus(-beta * (lc - lr_)).mean()
n_c, n_r = sub.chosen_mask.sum(1), sub.rejected_mask.sum(1)
differ = n_c != n_r                                   # pairs with a shorter line
shorter_wins = ((lc > lr_) == (n_c < n_r))[differ].float().mean()
# d/dh softplus(-β h) = -β σ(-β h): each pair's weight in the first gradient of the loss without π_ref
weight = torch.sigmoid(-beta * (lc - lr_))
print(f"loss at step 0: right {right:.4f} (log 2 = {math.log(2):.4f}) | without π_ref {wrong:.4f}")
print(f"without π_ref, the line with the higher starting 'reward' is the shorter one in {shorter_wins:.1%} of the "
      f"{int(differ.sum())} pairs of different length ({int((~differ).sum())} of {len(differ)} have equal lengths)")
print(f"weight σ(-β·margin) of a pair in the first gradient: chosen line longer {weight[n_c > n_r].mean():.2f} "
      f"({int((n_c > n_r).sum())} pairs) | chosen line shorter {weight[n_c < n_r].mean():.2f} ({int((n_c < n_r).sum())} pairs)"
      f" | with π_ref every pair {torch.sigmoid(torch.tensor(0.0)):.2f}")

# %% [markdown]
# > Without π_ref the loss starts far from log 2, and its first gradient is not spread over the pairs evenly:
# > each pair weighs σ(−β·margin), so the pairs whose chosen line is the longer one (a lower base log-prob) carry
# > most of it (printed above; with π_ref every pair weighs 0.50). The labels still come from the annotator, but
# > at the start the loss mostly pays for undoing the base model's preference for short lines. The implicit reward
# > is no longer a ratio to the reference, and nothing ties the policy to π_ref. The fix is the formula: every log-prob enters as
# > log π_θ − log π_ref.
#
# DPO never samples during training, so nothing in its loss watches the KL or the length of what the policy
# will write: both are measured afterwards, as above. Its loss only compares the two lines of each pair. Its
# history does log, as the other trainers' do, the entropy and Σ_t k1 = log π_θ(y)/π_ref(y), averaged over the
# minibatch's chosen and rejected lines (printed in the live run). But π_θ did not sample those lines, so that
# `kl` is no estimate of KL(π_θ ‖ π_ref). In this one run it stays between −0.45 and +0.01 nats: on balance the
# pairs' lines lose probability under π_θ (this log does not say whether the chosen, the rejected or both moved
# down; each value is taken on a fresh minibatch, before the step that trains on it). After the 10 steps, the policy's own samples lie 1.30 nats from π_ref.
#
# ## 3 · Best-of-n and its KL
#
# Best-of-n samples n lines from the base policy π and keeps the reward model's favourite. For a reward
# without ties, the chosen line has the distribution $\pi_n(y) = F(y)^n - F(y^-)^n$ ($F$: the reward's CDF
# under π, $F(y^-)$ its value just below $y$), which is $\approx n\,\pi(y)\,F(y)^{n-1}$ when π(y) is small, and
#
# $$\mathrm{KL}(\pi_n \,\|\, \pi) = \log n - \frac{n-1}{n}$$
#
# (an upper bound in general, tight when no single line is likely). `best_of_n_kl` against the exact KL of
# best-of-n on a categorical with 5000 outcomes, computed from $\pi_n(x) = F(x)^n - F(x-1)^n$:

# %%
from lmrl_course.rlhf import best_of_n_kl

seed_everything(3)
p = torch.softmax(torch.randn(5000, dtype=torch.float64) * 0.5, 0)   # outcomes sorted by their reward
F = p.cumsum(0)
F_prev = torch.cat([torch.zeros(1, dtype=torch.float64), F[:-1]])
print(f"{'n':>3} | {'log n − (n−1)/n':>15} | {'exact KL':>9}")
for n in (1, 2, 4, 8, 16, 32):
    pn = F ** n - F_prev ** n
    exact = round(float((pn * (pn / p).log()).sum()), 10) + 0.0   # n = 1: 0 up to rounding, printed as 0
    print(f"{n:3d} | {best_of_n_kl(n):15.4f} | {exact:9.4f}")

# %% [markdown]
# The KL grows only like $\log n$: best-of-32 costs 2.5 nats. What it costs instead is inference: n samples
# and n reward-model calls for every line written.
#
# ## 4 · Five methods, one figure
#
# All judged the same way, on 128 held-out prompts: the gold (annotator) score, the proxy (reward-model)
# score, the KL to the base model (Σ_t k1 per line for the trained policies; $\log n - (n-1)/n$ for best-of-n),
# the fraction of lines cut at N without EOS. The annotator counts vowels only inside words of the play, so a
# word the GPT invents ("ae" in "I ae you") earns no gold for its vowels, though the reward model, which has
# only seen lines of the play, may still credit them: gold measures vowels in words of the play, the proxy vowels as the
# reward model sees them. PPO, GRPO and RLOO: 30 updates against the reward model
# (notebook 09's comparison); DPO: one epoch over the pairs, evaluated every 5 steps on 64 held-out prompts;
# best-of-n: n = 1 … 32 from the base model, with the same missing-EOS penalty as the trainers. Three seeds each,
# precomputed by `python -m lmrl_course.scripts.make_rlhf_assets --only compare`.

# %%
from lmrl_course.paths import ASSETS_DIR
from lmrl_course.rlhf.results import mean_std, runs_of, smooth, value_at

comparison = json.loads((ASSETS_DIR / "rlhf_method_comparison.json").read_text())
seeds = sorted({r["seed"] for r in comparison["runs"]})
finals = {m: [r["final"] for r in runs_of(comparison["runs"], method=m)] for m in ("ppo", "grpo", "rloo")}
finals["dpo"] = [r["final"] for r in comparison["dpo_runs"]]
bon_ns = sorted({b["n"] for b in comparison["best_of_n"]})
for n in (4, 16):
    finals[f"best-of-{n}"] = runs_of(comparison["best_of_n"], n=n)
cost = {m: mean_std([r["update_s"] for r in runs_of(comparison["runs"], method=m)])[0] for m in ("ppo", "grpo", "rloo")}
cost["dpo"] = mean_std([r["step_s"] for r in comparison["dpo_runs"]])[0]
for n in (4, 16):
    cost[f"best-of-{n}"] = mean_std([b["wall_s"] for b in runs_of(comparison["best_of_n"], n=n)])[0]
print(f"seeds: {seeds} | mean ± std over seeds")
print(f"{'method':10} | {'gold':>13} | {'proxy (RM)':>13} | {'KL (nats)':>12} | {'cut at N':>11} | {'length':>10} | time")
b = comparison["base"]
print(f"{'base':10} | {b['gold']:13.3f} | {b['score']:+13.2f} | {0:12.2f} | {b['truncated_fraction']:11.1%} | {b['length']:10.1f} |")
for m, fs in finals.items():
    ms = {c: mean_std([f[c] for f in fs]) for c in ("gold", "score", "kl", "truncated_fraction", "length")}
    unit = "s per update" if m in ("ppo", "grpo", "rloo") else ("s per step" if m == "dpo" else "s for 128 prompts")
    print(f"{m:10} | {ms['gold'][0]:6.3f} ± {ms['gold'][1]:.3f} | {ms['score'][0]:+6.2f} ± {ms['score'][1]:.2f} | "
          f"{ms['kl'][0]:5.1f} ± {ms['kl'][1]:4.1f} | {ms['truncated_fraction'][0]:4.1%} ± {ms['truncated_fraction'][1]:.1%} | "
          f"{ms['length'][0]:4.1f} ± {ms['length'][1]:3.1f} | {cost[m]:.2f} {unit}")
print("DPO after one epoch:", comparison["dpo_runs"][0]["final"]["samples"][:3])

# %%
colors = {"ppo": "tab:blue", "grpo": "tab:orange", "rloo": "tab:green", "dpo": "tab:purple", "bon": "black"}
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for ax, key, label in ((axes[0], "gold", "gold: annotator score"), (axes[1], "score", "proxy: reward model score")):
    for meth in ("ppo", "grpo", "rloo"):
        for j, r in enumerate(runs_of(comparison["runs"], method=meth)):
            h = r["history"]
            ax.plot([max(x, 0) ** 0.5 for x in smooth(h["kl"])], smooth(h[key]), c=colors[meth], alpha=0.5,
                    label=meth.upper() if j == 0 else None)
    for j, r in enumerate(comparison["dpo_runs"]):
        ev = r["evals"]
        ax.plot([max(e["kl"], 0) ** 0.5 for e in ev], [e[key] for e in ev], ".-", c=colors["dpo"], alpha=0.6,
                label="DPO" if j == 0 else None)
    bm = [mean_std([b[key] for b in runs_of(comparison["best_of_n"], n=n)]) for n in bon_ns]
    ax.errorbar([best_of_n_kl(n) ** 0.5 for n in bon_ns], [m_ for m_, _ in bm], yerr=[s_ for _, s_ in bm], fmt="s-",
                c=colors["bon"], capsize=3, label="best-of-n (n = 1 … 32)")
    ax.set_xlabel("√KL (√nats)"); ax.set_ylabel(label)
axes[0].legend(fontsize=8)
axes[0].set_title("gold vs √KL (training batches, 5-update averages; DPO: held-out evaluations)", fontsize=9)
axes[1].set_title("proxy vs √KL", fontsize=9)
plt.tight_layout()
plt.show()

# %% [markdown]
# **At matched KL.** Each seed's gold and proxy scores where its curve first reaches a given KL (PPO, GRPO, RLOO:
# 5-update averages of the training batches; DPO: its evaluations every 5 steps, on 64 held-out prompts), then mean
# ± std over the seeds; best-of-n's by interpolating its seed-averaged scores between its n, at the formula's KL:

# %%
levels = (0.0, 1.0, 2.0, 4.0, 8.0)   # KL = 0: where each curve starts
for key, label in (("gold", "gold"), ("score", "proxy")):
    print(f"{'method':10} | " + " | ".join(f"{label} at KL = {x:3.1f}" for x in levels))
    for meth in ("ppo", "grpo", "rloo", "dpo"):
        if meth == "dpo":
            curves = [([e["kl"] for e in r["evals"]], [e[key] for e in r["evals"]]) for r in comparison["dpo_runs"]]
        else:
            curves = [(smooth(r["history"]["kl"]), smooth(r["history"][key]))
                      for r in runs_of(comparison["runs"], method=meth)]
        cells = []
        for x in levels:
            vals = [value_at(k, g, x) for k, g in curves]
            m_, s_ = mean_std(vals)
            n_ok = sum(v == v for v in vals)
            cells.append(f"{m_:+.3f} ± {s_:.3f} ({n_ok}/{len(vals)})" if n_ok else f"{'not reached':>19}")
        print(f"{meth:10} | " + " | ".join(cells))
    bon_mean = [mean_std([b[key] for b in runs_of(comparison["best_of_n"], n=n)])[0] for n in bon_ns]
    bon_cells = [value_at([best_of_n_kl(n) for n in bon_ns], bon_mean, x) for x in levels]
    print(f"{'best-of-n':10} | " + " | ".join((f"{v:+.3f}" if v == v else "not reached").rjust(19) for v in bon_cells))
    print()

# %% [markdown]
# **What the data shows** (three seeds, mean ± std). Best-of-n buys gold most cheaply in KL: 0.404 ± 0.007 at 1.8
# nats (n = 16), and at matched KL its mean leads at 1 and 2 nats (0.387 and 0.406; the table gives no spread for
# it, best-of-16's seeds spread ± 0.007), DPO next (0.380 ± 0.003 and 0.392 ± 0.004), PPO, GRPO and RLOO together
# below (0.362 to 0.367 and 0.368 to 0.379). The curves do not start from the same point (the KL = 0 column: gold
# 0.344 to 0.356; DPO's on 64 prompts, the RL methods' first training batches, best-of-1 on 128 prompts), but the
# order of the means holds when each is measured from its own start: at 1 and 2 nats best-of-n gains +0.033 and
# +0.052, DPO +0.024 and +0.036, the RL methods +0.012 to +0.018 and +0.018 to +0.029. At 4 nats, which best-of-32
# does not reach, the four gain +0.039 to +0.048 from their starts (DPO 0.403 ± 0.004, RLOO 0.398 ± 0.003, PPO and
# GRPO 0.390 and 0.389): no order among them; at 8 nats they lie between 0.415 and 0.434. The RL methods reach more gold only by going much further:
# 0.486 to 0.500 at 13.7 to 22.7 nats. DPO, which never samples during training and never sees the reward model,
# ends its epoch at 9.7 ± 0.7 nats with gold 0.431 ± 0.003, and its final proxy score (+1.31) is the lowest of the
# trained methods; but it also stops at the smallest KL, and at matched KL its proxy is not lower than theirs: at
# 1, 2 and 4 nats its mean is the highest of the four (+0.80 ± 0.03 at 4 nats against +0.45 to +0.67), partly from
# a higher start (−0.185 against −0.28 to −0.24 at KL = 0), and at 8 nats it lies between them (+1.21 against
# +1.06 to +1.37). So its low final proxy goes with its small KL. Best-of-n's proxy
# at matched KL is far above everyone's (+1.17 at 2 nats): it picks by the reward model's score itself.
#
# Best-of-n's price is inference, paid again for every prompt: best-of-16 took 45 s for 128 prompts on the CPU that
# made the asset. A trained policy writes one line per prompt, after a one-off training cost: 43 DPO steps of 1.31 s
# (about 56 s) or 30 RL updates of 1.79 to 1.88 s (about 55 s; the table's last column), so on this CPU training has
# paid for itself after a little more than one batch of 128 prompts. On average under 2 % of any method's lines are
# cut at N. DPO's lines get shorter, like PPO's and RLOO's and unlike GRPO's (26.1 ± 1.1 characters against the base
# model's 38.1). Over its 1371 training pairs the chosen lines are a little shorter than the rejected ones on average
# (19.9 against 21.3 characters; chosen the shorter in 50.9 % of the pairs, the longer in 47.3 %:
# notebook 08, section 7; the 256-pair sample of section 2 leans the other way, 134 pairs chosen-longer against 118),
# a small lean; these runs do not isolate the cause. Best-of-n keeps the base model's length (38.4 ± 1.0 at n = 16):
# picking the reward model's favourite among 16 base lines does not shift it here. A caveat for the matched-KL
# table: the RL curves are 5-update averages of training batches, DPO's values held-out evaluations on 64 prompts
# and best-of-n's on 128; and best-of-n's KL is the formula $\log n - (n-1)/n$, an upper bound, not a measurement,
# so if anything its true KL is smaller.
#
# ## Check yourself
#
# - Where does $\log Z(x)$ go in the DPO derivation, and why must the two lines of a pair share a prompt?
# - DPO's loss never sees a sample of the current policy. What can go wrong that PPO's KL penalty would have
#   caught, and how would you notice?
# - Best-of-16 costs 1.8 nats of KL. What does it cost instead, and when is that price worth paying?
# - A method scores more gold than best-of-n at the same KL. What has it bought with its training compute?
