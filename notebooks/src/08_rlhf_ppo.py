# %% [markdown]
# # 08 · RLHF with PPO: fine-tuning the Shakespeare GPT towards a taste
#
# **What you will build:** the RLHF recipe on the course's own character-level GPT. A simulated
# annotator with a simple taste compares pairs of lines; a **reward model** learns its preferences; then
# **PPO** fine-tunes the GPT of notebook 03 to write lines the reward model likes, while a **KL penalty**
# keeps it close to a frozen copy of itself, the **reference policy**. Without that penalty you will
# watch the reward climb while the text turns to mush: **reward hacking**.
#
# **Learning goals**
# - See text generation as an RL problem: the prompt is the state, each sampled character an action,
#   the reward arrives at the end of the line.
# - Train a Bradley–Terry reward model on preference pairs and measure its held-out accuracy.
# - Write the per-token RLHF reward $r_t = -\beta\,\mathrm{KL}_t + [t = \text{last}]\,s$ and run PPO with a value
#   head, GAE with $\gamma = 1$, padding masks and advantage whitening.
# - Read the reward-vs-KL trade-off over $\beta$, and recognise three bugs by their symptoms.
#
# **Prerequisites:** notebook 03 (the GPT and sampling with a temperature), notebook 07 (PPO: ratio,
# clipped surrogate, GAE). The package versions used here live in `lmrl_course.rlhf`.

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
# ## 1 · Text generation as reinforcement learning
#
# The policy $\pi_\theta$ is the GPT of notebook 03, loaded from `assets/gpt_shakespeare.pt`. The task:
# given the last $P = 16$ characters of the play, ending where a line of verse begins, **write the next
# line**. In RL words:
#
# | RL | here |
# |---|---|
# | state $s_t$ | the prompt and the characters written so far |
# | action $a_t$ | the next character, $a_t \sim \pi_\theta(\cdot \mid s_t) = \mathrm{softmax}(z_t/\tau)$ |
# | episode end | the newline character `\n` (our EOS token), or $N = 32$ characters |
# | reward | a score $s$ for the whole line, given at its last character |
#
# We sample at temperature $\tau = 0.7$, so the policy we optimise **is** $\mathrm{softmax}(z/\tau)$, and every
# log-probability below is taken at that same temperature. A frozen copy of the GPT is the reference
# policy $\pi_{\text{ref}}$.

# %%
from lmrl_course.data import load_text
from lmrl_course.gpt import load_pretrained
from lmrl_course.rlhf import sample_responses, response_logprobs, decode_responses
from lmrl_course.rlhf.tasks import MAX_NEW_TOKENS, TEMPERATURE, shakespeare_prompts

gpt, tokenizer = load_pretrained(device=device)
ref_policy = copy.deepcopy(gpt).eval()             # π_ref: never trained
text = load_text()
train_prompts, test_prompts = shakespeare_prompts(text, tokenizer)
EOS = tokenizer.stoi["\n"]
print(f"GPT: {gpt.num_parameters():,} parameters | prompts: {len(train_prompts)} train, {len(test_prompts)} held out")
print(f"EOS = {EOS} ({tokenizer.decode([EOS])!r}) | N = {MAX_NEW_TOKENS} | τ = {TEMPERATURE}")

# %% [markdown]
# `sample_responses` samples a batch of lines with a key/value cache (each step feeds one character and
# re-uses the keys and values of all earlier positions) and stores, for every response position, the
# sampled id, its log-probability at the sampling temperature and a **mask**: True for real characters,
# the EOS included, False for the padding after it.

# %%
seed_everything(1)
gen = torch.Generator().manual_seed(1)
prompts = test_prompts[:4].to(device)
ro = sample_responses(gpt, prompts, MAX_NEW_TOKENS, TEMPERATURE, eos_id=EOS, pad_id=0, generator=gen)
for p, r in zip(decode_responses(tokenizer, ro.prompt, torch.ones_like(ro.prompt, dtype=torch.bool)),
                decode_responses(tokenizer, ro.response, ro.mask)):
    print(repr(p), "->", repr(r))
print("lengths (EOS included):", ro.lengths.tolist())
print("first 8 logp of line 0:", [round(v, 2) for v in ro.logp[0, :8].tolist()])

# %% [markdown]
# **Check against a reference:** one ordinary forward pass over prompt + response, no cache, must give the
# same log-probabilities as those stored while sampling. (PPO relies on it: at the start of an update
# the ratio $\pi_\theta/\pi_{\theta_\text{old}}$ must be exactly 1.)

# %%
with torch.no_grad():
    recomputed = response_logprobs(gpt, ro.prompt, ro.response, TEMPERATURE, ro.mask)
print("max |stored − recomputed| =", f"{(recomputed - ro.logp).abs().max().item():.1e}")

# %% [markdown]
# ## 2 · A simulated annotator with a clear taste
#
# Real RLHF asks people which of two answers they prefer. Ours is a rule you can read: the annotator
# likes **musical lines**, scored by the share of their letters that are vowels; a line of fewer than 12
# letters scores 0 (too short to sing). Shown two lines, it prefers the higher score and skips the pair
# when the scores differ by less than 0.1. The char-GPT can move this score by choosing words, which
# makes it a taste one can satisfy in a few dozen updates, and one that is easy to *game*.

# %%
from lmrl_course.rlhf import VowelAnnotator

annotator = VowelAnnotator()
for line in ["Now is the winter of our discontent", "O, you are too too sweet a beauty", "First Citizen", "I"]:
    print(f"{annotator.score(line):.3f}  {line!r}")
print("prefers:", annotator.prefer("O, you are too too sweet a beauty", "Now is the winter of our discontent"))

# %%
seed_everything(2)
gen = torch.Generator().manual_seed(2)
ro = sample_responses(gpt, test_prompts[:128].to(device), MAX_NEW_TOKENS, TEMPERATURE, EOS, 0, gen)
base_scores = annotator.scores(decode_responses(tokenizer, ro.response, ro.mask, strip_eos=EOS))
print(f"the GPT's own lines: mean score {base_scores.mean():.3f}, std {base_scores.std():.3f}")

# %% [markdown]
# **Be the annotator.** Ten pairs of the GPT's lines: click the one you prefer (or skip). The status line
# says how often you agree with the simulated annotator; `labeller.to_preference_data(...)` turns your
# labels into training pairs for the reward model below, should you want to train on your own taste.

# %%
from lmrl_course.rlhf import LabelWidget

gpt_lines = decode_responses(tokenizer, ro.response, ro.mask, strip_eos=EOS)
labeller = LabelWidget(gpt_lines[:10], gpt_lines[10:20], annotator)
labeller

# %% [markdown]
# ## 3 · The reward model
#
# The annotator's labels are pairs (chosen $y_c$, rejected $y_r$). The **Bradley–Terry** model says a
# scalar reward $r_\phi$ explains them if
#
# $$P(y_c \succ y_r) = \sigma\big(r_\phi(y_c) - r_\phi(y_r)\big), \qquad
# L(\phi) = -\frac{1}{M}\sum \log \sigma\big(r_\phi(y_c) - r_\phi(y_r)\big).$$
#
# Only differences of rewards matter, so $r_\phi$ is defined up to a constant.
#
# **Your turn:** write `bradley_terry_loss(r_chosen, r_rejected)`. It must survive differences of ±100.

# %% tags=["exercise"]
# EXERCISE: bradley_terry_loss
def bradley_terry_loss(r_chosen, r_rejected):
    # Replace the next line with your code (one line).
    raise NotImplementedError

# %%
from lmrl_course.exercises import check

result = check("bradley_terry_loss", bradley_terry_loss)
result

# %%
bt_loss = result.function
d = torch.tensor([-100.0, -2.0, 0.0, 2.0])
print("loss of single pairs with r_c − r_r =", d.tolist(), "->", [round(bt_loss(x[None], torch.zeros(1)).item(), 3) for x in d])

# %% [markdown]
# **The data.** Sampling thousands of lines from the GPT takes minutes on a CPU, so the candidates shown
# to the annotator are lines of the play itself (the text the GPT imitates), each cut after a random
# number of characters so that short lines are among them too. Pairs come from the first 90% of the text
# for training and from the last 10% for the held-out accuracy. Pairs the annotator skips are dropped.
#
# **The model.** `RewardModel` is the GPT body (a copy of its first 2 blocks, for speed) with a linear
# head on the hidden state of the **last real token**:
# $r_\phi(y) = w^\top h_{\text{last}}(y) + b$. The annotator judges a line on its own, so the reward model
# reads the response only.

# %%
from lmrl_course.rlhf import RewardModel, preference_data_from_texts, preference_accuracy, train_reward_model
from lmrl_course.rlhf.tasks import RM_RECIPE, VAL_FRACTION, play_lines, random_line_pairs

n_split = int(len(text) * (1 - VAL_FRACTION))
a, b = random_line_pairs(play_lines(text[:n_split]), RM_RECIPE["n_train_pairs"], seed=0)
rm_train = preference_data_from_texts(a, b, tokenizer, annotator, MAX_NEW_TOKENS, EOS)
a, b = random_line_pairs(play_lines(text[n_split:]), RM_RECIPE["n_test_pairs"], seed=1)
rm_test = preference_data_from_texts(a, b, tokenizer, annotator, MAX_NEW_TOKENS, EOS)
print(f"labelled pairs: {len(rm_train)} train, {len(rm_test)} held out (ties skipped)")
for i in range(3):
    print(f"  chosen {rm_train.chosen_text[i]!r:40} rejected {rm_train.rejected_text[i]!r}")

# %% tags=["solutions-skip"]
seed_everything(RM_RECIPE["seed"])                   # the head's initial weights
reward_model = RewardModel(gpt, n_layer=RM_RECIPE["n_layer"]).to(device)
t0 = time.perf_counter()
rm_hist = train_reward_model(reward_model, rm_train, epochs=RM_RECIPE["epochs"], batch_size=RM_RECIPE["batch_size"],
                             lr=RM_RECIPE["lr"], seed=RM_RECIPE["seed"], progress=True)
print(f"took {time.perf_counter() - t0:.2f} s")
rm_acc = preference_accuracy(reward_model, rm_test)
print(f"held-out accuracy: {rm_acc:.1%} on {len(rm_test)} pairs")

# %% tags=["solutions-skip"]
smooth = lambda xs, k=10: [sum(xs[max(0, i - k + 1):i + 1]) / len(xs[max(0, i - k + 1):i + 1]) for i in range(len(xs))]  # noqa: E731
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
axes[0].plot(rm_hist["step"], smooth(rm_hist["loss"]))
axes[0].axhline(0.693, ls="--", c="gray", label="log 2 (chance)")
axes[0].set_xlabel("step"); axes[0].set_ylabel("Bradley–Terry loss"); axes[0].legend()
axes[1].plot(rm_hist["step"], smooth(rm_hist["acc"]))
axes[1].axhline(rm_acc, ls="--", c="tab:green", label=f"held out: {rm_acc:.0%}")
axes[1].set_xlabel("step"); axes[1].set_ylabel("minibatch accuracy"); axes[1].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Does it transfer to what PPO will feed it, **lines written by the GPT**? The scores of the 128 lines
# sampled above against the annotator's own scores:

# %% tags=["solutions-skip"]
with torch.no_grad():
    rm_scores = reward_model(ro.response, ro.mask).cpu()
corr = torch.corrcoef(torch.stack([rm_scores, base_scores]))[0, 1].item()
print(f"correlation between reward model and annotator on GPT samples: {corr:.2f}")

# %% [markdown]
# ## 4 · PPO for language models
#
# Each response is an episode of up to $N$ actions. The RLHF reward of token $t$ combines the reward
# model's score $s$, given **once, at the last real token**, with a **per-token KL penalty** towards the
# reference, with $\mathrm{KL}_t = \log \pi_{\theta_\text{old}}(a_t \mid s_t) - \log \pi_\text{ref}(a_t \mid s_t)$ (the k1
# estimator, unbiased for the KL because $a_t$ was sampled from $\pi_{\theta_\text{old}}$):
#
# $$r_t = -\beta\,\mathrm{KL}_t + [t = \text{last}]\; s, \qquad \sum_t r_t = s - \beta \sum_t \mathrm{KL}_t .$$
#
# Padding positions get no reward at all. **Your turn:** write `rlhf_rewards(score, logp, ref_logp, mask,
# kl_coef)` returning the (B, N) rewards.

# %% tags=["exercise"]
# EXERCISE: rlhf_rewards
def rlhf_rewards(score, logp, ref_logp, mask, kl_coef):
    # Replace the next line with your code (about four lines).
    raise NotImplementedError

# %%
result = check("rlhf_rewards", rlhf_rewards)
result

# %%
rewards_fn = result.function
seed_everything(4)
gen = torch.Generator().manual_seed(4)
batch = sample_responses(gpt, test_prompts[:3].to(device), 12, TEMPERATURE, EOS, 0, gen)
with torch.no_grad():
    ref_lp = response_logprobs(ref_policy, batch.prompt, batch.response, TEMPERATURE, batch.mask)
fake_logp = batch.logp - 0.1 * batch.mask        # pretend π_θ has drifted a little from π_ref
score = torch.tensor([1.0, -0.5, 2.0])
r = rewards_fn(score, fake_logp, ref_lp, batch.mask, 0.5)
print("mask   :", batch.mask.int().tolist())
print("rewards:", [[round(v, 2) + 0.0 for v in row] for row in r.tolist()])
print("Σ_t r_t:", [round(v, 2) for v in r.sum(1).tolist()], "= s − β·ΣKL:",
      [round(v, 2) for v in (score - 0.5 * ((fake_logp - ref_lp) * batch.mask).sum(1)).tolist()])

# %% [markdown]
# **The rest of PPO**, as in notebook 07, with three language-model details:
#
# - **Value head.** $V_\phi(s_t) = w^\top h_t + b$ on the *same* hidden state that predicts token $t$, so one
#   forward pass gives both log-probs and values (`ActorCritic`).
# - **GAE with $\gamma = 1$.** A line is short and its score arrives at the end; discounting would only
#   make early characters care less about it. Each response terminates at its last real token (no
#   bootstrap after it); `lm_gae` reuses `lmrl_course.rl.returns.gae` on the transposed (N, B) tensors.
# - **Masks everywhere.** Advantages are whitened over real tokens only, and every loss is a masked mean
#   (`clipped_surrogate_loss(..., mask=mask)`, `value_loss(..., mask=mask)` from notebook 07's module).
#
# `LMPPOTrainer.step` runs one update: sample B = 32 lines → score them → rewards → GAE → 2 epochs × 2
# minibatches of clipped-surrogate + value loss.

# %% [markdown]
# ## 5 · A live PPO run
#
# Twenty-five updates, β = 0.05. The annotator's own score is logged too (`gold_fn`), but PPO only ever
# sees the reward model.

# %%
from lmrl_course.rlhf import LMPPOConfig, LMPPOTrainer, annotator_reward_fn, evaluate_policy, reward_model_fn
from lmrl_course.rlhf.tasks import PPO_RECIPE

cfg = LMPPOConfig(**PPO_RECIPE)
print(cfg)

# %% tags=["solutions-skip"]
seed_everything(5)
policy = copy.deepcopy(gpt)
gold_fn = annotator_reward_fn(annotator, tokenizer, EOS)
trainer = LMPPOTrainer(policy, ref_policy, reward_model_fn(reward_model), cfg, eos_id=EOS, device=device, seed=0,
                       gold_fn=gold_fn)
t0 = time.perf_counter()
hist = trainer.train(train_prompts, 25, progress=True)
print(f"took {time.perf_counter() - t0:.2f} s")
print(f"first update: ratio deviates from 1 by at most {hist['ratio_dev_first'][0]:.1e}, KL = {hist['kl'][0]:.3f}")

# %% tags=["solutions-skip"]
fig, axes = plt.subplots(1, 3, figsize=(12, 3))
axes[0].plot(hist["update"], hist["score"], label="reward model score s")
axes[0].plot(hist["update"], hist["objective"], label="s − β·KL")
axes[0].set_xlabel("update"); axes[0].legend(); axes[0].set_title("what PPO maximises", fontsize=9)
axes[1].plot(hist["update"], hist["gold"], c="tab:green")
axes[1].set_xlabel("update"); axes[1].set_ylabel("annotator score"); axes[1].set_title("never seen by PPO", fontsize=9)
axes[2].plot(hist["update"], hist["kl"], c="tab:red")
axes[2].set_xlabel("update"); axes[2].set_ylabel("KL per line (nats)"); axes[2].set_title("KL(π_θ ‖ π_ref)", fontsize=9)
plt.tight_layout()
plt.show()

# %% [markdown]
# **Held-out prompts, before and after**, the same prompts and the same random seed for both models:

# %% tags=["solutions-skip"]
seed_everything(6)
held_out = test_prompts[:128].to(device)
rm_fn = reward_model_fn(reward_model)
before = evaluate_policy(ref_policy, ref_policy, held_out, rm_fn, MAX_NEW_TOKENS, TEMPERATURE, EOS, seed=6)
after = evaluate_policy(policy, ref_policy, held_out, rm_fn, MAX_NEW_TOKENS, TEMPERATURE, EOS, seed=6)
for name, ev in (("before", before), ("after", after)):
    gold = gold_fn(ev["rollout"].prompt, ev["rollout"].response, ev["rollout"].mask).mean().item()
    print(f"{name:6}: reward model {ev['score']:+.3f} | annotator {gold:.3f} | KL {ev['kl']:.2f} nats | length {ev['length']:.1f}")
for name, ev in (("before", before), ("after", after)):
    print(f"--- {name}")
    for line in decode_responses(tokenizer, ev["rollout"].response[:4], ev["rollout"].mask[:4], strip_eos=EOS):
        print("   ", repr(line))

# %% [markdown]
# ## 6 · Reward hacking, and the price of β
#
# The reward model was trained on lines of the play. Push the policy far from those lines and it scores
# texts it has never seen, where its judgement is arbitrary; the policy finds those places. The KL
# penalty is the leash. The sweep below reruns the PPO of section 5 for several β, β = 0 included, and
# for longer: 40 updates at twice the learning rate (2e-4), to see where each β leads. It takes several
# minutes, so it was **precomputed** by `python -m lmrl_course.scripts.make_rlhf_assets` (otherwise the same
# recipe, seeds and reward model as this notebook) and is loaded from `assets/rlhf_beta_sweep.json`.

# %%
from lmrl_course.paths import ASSETS_DIR

sweep = json.loads((ASSETS_DIR / "rlhf_beta_sweep.json").read_text())
print(f"reward model of the sweep: held-out accuracy {sweep['reward_model']['test_accuracy']:.1%}")
print(f"{'β':>5} | {'RM score':>8} | {'annotator':>9} | {'KL':>6} | a line written after training")
base = sweep["base"]
print(f"{'base':>5} | {base['score']:+8.3f} | {base['gold']:9.3f} | {base['kl']:6.2f} | {base['samples'][0]!r}")
for run in sweep["runs"]:
    f = run["final"]
    print(f"{run['kl_coef']:5.2f} | {f['score']:+8.3f} | {f['gold']:9.3f} | {f['kl']:6.2f} | {f['samples'][0]!r}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for run in sweep["runs"]:
    h = run["history"]
    axes[0].plot(h["update"], h["score"], label=f"β = {run['kl_coef']}")
    axes[1].plot(h["kl"], h["score"], ".-", alpha=0.7, label=f"β = {run['kl_coef']}")
axes[0].set_xlabel("update"); axes[0].set_ylabel("reward model score"); axes[0].legend(fontsize=8)
axes[1].set_xlabel("KL(π_θ ‖ π_ref) per line (nats)"); axes[1].set_ylabel("reward model score")
axes[1].set_title("reward vs KL along each run")
plt.tight_layout()
plt.show()

# %% [markdown]
# With β = 0 nothing holds the policy back: the score keeps climbing, the KL runs away (tens of nats), and
# the lines turn into vowel-rich near-words ("Tyrannny girecatre case") that more and more end alike. Small
# β slows this down without stopping it (look for the repeated endings); larger β buys readable text at the
# price of a smaller reward. Notice also the annotator's score: it rises far less than the reward model's,
# since the policy exploits what the reward model gets wrong. Explore the runs:

# %%
import ipywidgets as widgets
from lmrl_course.widgets import PlotWidget

betas = [run["kl_coef"] for run in sweep["runs"]]


def draw_run(fig, beta):
    run = sweep["runs"][betas.index(beta)]
    h = run["history"]
    ax1 = fig.subplots()
    ax1.plot(h["update"], h["score"], c="tab:blue", label="reward model score")
    ax1.plot(h["update"], h["gold"], c="tab:green", label="annotator score")
    ax1.set_xlabel("update"); ax1.legend(loc="upper left", fontsize=8)
    ax2 = ax1.twinx()
    ax2.plot(h["update"], h["kl"], c="tab:red"); ax2.set_ylabel("KL (nats)", color="tab:red")
    ax1.set_title(f"β = {beta}")
    return "\n".join(run["final"]["samples"][:3])


PlotWidget(draw_run, {"beta": widgets.SelectionSlider(options=betas, value=betas[2], description="β")})

# %% [markdown]
# ## 7 · Common mistakes, run side by side
#
# > **Common mistake 1: log-probs at temperature 1 while sampling at 0.7.** The text was drawn from
# > $\mathrm{softmax}(z/0.7)$; a log-prob taken from $\mathrm{softmax}(z)$ belongs to another distribution.
# > First at step 0, where the policy *is* the reference and the true KL is exactly 0: the policy's
# > log-probs recomputed without the temperature, the reference's (correctly) at τ = 0.7.

# %%
from lmrl_course.rlhf import exact_kl, kl_k1, response_logits

seed_everything(7)
gen = torch.Generator().manual_seed(7)
ro7 = sample_responses(gpt, test_prompts[:128].to(device), MAX_NEW_TOKENS, TEMPERATURE, EOS, 0, gen)
with torch.no_grad():
    lp_tau1 = response_logprobs(gpt, ro7.prompt, ro7.response, 1.0, ro7.mask)            # forgot τ
    lp_right = response_logprobs(gpt, ro7.prompt, ro7.response, TEMPERATURE, ro7.mask)
    lp_ref = response_logprobs(ref_policy, ro7.prompt, ro7.response, TEMPERATURE, ro7.mask)
for label, lp in (("mistake", lp_tau1), ("right  ", lp_right)):
    est = kl_k1(lp, lp_ref, ro7.mask).sum(1)
    print(f"{label}: mean KL estimate {est.mean():+.3f} nats | lines with a negative KL {(est < 0).float().mean():.0%}")

# %% [markdown]
# > Negative KL on most lines, at a point where the KL is 0: the penalty $-\beta\,\mathrm{KL}_t$ becomes a
# > *bonus*, paid for nothing. Taking every log-prob at τ = 1 (policy and reference alike) hides the
# > sign problem but not the bias: with the fine-tuned policy of section 5, 512 lines, each estimate minus
# > the exact KL of the same lines (summed over the vocabulary from both models' full distributions at
# > τ = 0.7). The right estimate is off by no more than its noise; the mistaken one is biased low.

# %% tags=["solutions-skip"]
seed_everything(7)
gen = torch.Generator().manual_seed(7)
ro7 = sample_responses(policy, test_prompts[:512].to(device), MAX_NEW_TOKENS, TEMPERATURE, EOS, 0, gen)
with torch.no_grad():
    z_pol = response_logits(policy, ro7.prompt, ro7.response)
    z_ref = response_logits(ref_policy, ro7.prompt, ro7.response)
exact = (exact_kl(z_pol, z_ref, TEMPERATURE) * ro7.mask).sum(1)                     # Σ_t exact KL_t, per line
print(f"exact KL at τ = 0.7 (summed over the vocabulary): {exact.mean():.3f} nats per line")
for tau, label in ((1.0, "mistake: all log-probs at τ = 1  "), (TEMPERATURE, "right: all log-probs at τ = 0.7")):
    lp = torch.log_softmax(z_pol / tau, -1).gather(2, ro7.response[..., None])[..., 0]
    lq = torch.log_softmax(z_ref / tau, -1).gather(2, ro7.response[..., None])[..., 0]
    diff = kl_k1(lp, lq, ro7.mask).sum(1) - exact                                      # estimate − exact, per line
    print(f"{label}: estimate − exact = {diff.mean():+.3f} ± {diff.std() / len(diff) ** 0.5:.3f} nats (± 1 s.e.)")

# %% [markdown]
# > The fix is one rule: the temperature that samples is the temperature of every log-prob (sampling,
# > π_θold, π_θ, π_ref). `LMPPOConfig.temperature` is used for all four.
#
# > **Common mistake 2: the ratio is not 1 at the start of the update.** At the first minibatch
# > $\pi_\theta = \pi_{\theta_\text{old}}$, so the ratio must be exactly 1. Here the stored `logp_old` was
# > taken at τ = 0.7 but the loss recomputes log-probs without the temperature:

# %%
from lmrl_course.rl.ppo import clip_fraction

seed_everything(8)
gen = torch.Generator().manual_seed(8)
ro8 = sample_responses(gpt, test_prompts[:32].to(device), MAX_NEW_TOKENS, TEMPERATURE, EOS, 0, gen)
with torch.no_grad():
    wrong = response_logprobs(gpt, ro8.prompt, ro8.response, 1.0, ro8.mask)           # forgot τ
    right = response_logprobs(gpt, ro8.prompt, ro8.response, TEMPERATURE, ro8.mask)
for label, lp in (("mistake", wrong), ("right  ", right)):
    ratio = (lp - ro8.logp).exp()[ro8.mask]
    print(f"{label}: ratio in [{ratio.min():.3f}, {ratio.max():.3f}] | clipped at ε = 0.2 before any step: "
          f"{clip_fraction(ratio, 0.2).item():.0%}")

# %% [markdown]
# > With the mistake, PPO's clip is active before the policy has moved: about a third of the tokens get
# > no gradient, the rest are pushed by ratios that measure a temperature change, not learning. The
# > trainer records `ratio_dev_first` (|ratio − 1| at the first minibatch) for exactly this check.
#
# > **Common mistake 3: EOS used as padding.** Our pad id is 0, and id 0 is `\n`, the EOS. If the mask is
# > rebuilt from the token ids (`response != pad_id`) instead of being stored at sampling time, every real
# > EOS disappears from the loss, and the score moves to the character before it:

# %%
from lmrl_course.rlhf import last_token_index

wrong_mask = ro8.response != 0                                  # "padding is wherever the id is 0"
ended = ro8.mask.sum(1) < MAX_NEW_TOKENS
print(f"lines that ended with EOS: {int(ended.sum())} of {len(ended)}")
print(f"EOS tokens dropped from the loss by the wrong mask: {int((ro8.mask & ~wrong_mask).sum())}")
print("last real token, right mask       :", last_token_index(ro8.mask)[:8].tolist())
print("last real token, wrong mask (naive):", (wrong_mask.long().sum(1) - 1)[:8].tolist())

# %% [markdown]
# > With the wrong mask the policy never receives a gradient for *ending* a line: the decision "write
# > `\n` now" carries neither KL penalty nor advantage, so the length of the lines drifts freely. The
# > score moves to the character before the EOS, and a line that is *only* `\n` (an empty line) has no
# > real token left at all: its index −1 silently points at the last padding slot. (`last_token_index`
# > refuses such a mask with an error instead.) The fix: store the mask when sampling, from when each
# > line stopped; `sample_responses` does.

# %% [markdown]
# ## Check yourself
#
# - Why is the score added at the last real token only, while the KL penalty is paid at every token?
# - The Bradley–Terry loss sees only differences $r_c - r_r$. What does that mean for the reward model's
#   offset, and why does the package standardise its scores?
# - What does GAE with $\gamma = 1, \lambda = 1$ give on a single line? Why is $\gamma < 1$ unhelpful here?
# - With β = 0 the reward model's score climbs: is the policy getting better? What tells you?
# - You see negative KL estimates in your logs. Name two possible causes.
#
# **Next:** notebook 09 drops the value head. GRPO and RLOO sample several lines per prompt and use the
# group itself as the baseline.
