# %% [markdown]
# # 08 · RLHF with PPO: fine-tuning the Shakespeare GPT towards a taste
#
# **What you will build:** the RLHF recipe on the course's own character-level GPT. A simulated
# annotator with a simple taste compares pairs of lines; a **reward model** learns its preferences; then
# **PPO** fine-tunes the GPT of notebook 03 to write lines the reward model likes, while a **KL penalty**
# keeps it close to a frozen copy of itself, the **reference policy**. Without that penalty the reward
# model's score climbs while the annotator's own score first rises and then falls, below the base model's on some
# seeds, as the text drifts to lines the reward model misjudges: **over-optimisation**.
#
# **Learning goals**
# - See text generation as an RL problem: the prompt is the state, each sampled character an action,
#   the reward arrives at the end of the line.
# - Train a Bradley–Terry reward model on preference pairs and measure its held-out accuracy.
# - Write the per-token RLHF reward $r_t = -\beta\,\mathrm{KL}_t + [t = \text{last}]\,s$ and run PPO with a value
#   head, GAE with $\gamma = 1$, padding masks and advantage whitening.
# - Read gold and proxy scores against $\sqrt{\mathrm{KL}}$ over $\beta$, and recognise three bugs by their symptoms.
# - Test, by measuring, two suspects for the trained policy's short lines (the taste's ceiling and the summed KL),
#   and see why these runs settle neither.
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
# | episode end | the newline character `\n` (our EOS token), or $N = 64$ characters |
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
# same log-probabilities as those stored while sampling, up to float precision: the cache is only a speed-up.
# (The trainer does not use the stored values for the ratio: it recomputes $\log\pi_{\theta_\text{old}}$ with the
# loss's own uncached pass, so that $\pi_\theta/\pi_{\theta_\text{old}}$ is exactly 1 at the start of an update,
# as section 5 prints.)

# %%
with torch.no_grad():
    recomputed = response_logprobs(gpt, ro.prompt, ro.response, TEMPERATURE, ro.mask)
print("max |stored − recomputed| =", f"{(recomputed - ro.logp).abs().max().item():.1e}")

# %% [markdown]
# ## 2 · A simulated annotator with a clear taste
#
# Real RLHF asks people which of two answers they prefer. Ours is a rule you can read: the annotator
# likes **musical lines**, scored by the share of their letters that are vowels, with $m = 6$ pseudo-letters of
# share $p_0 = 0.37$ (close to the play's average score: 0.376–0.381 in section 7's length bins) added, $\text{score} = (\text{vowels} + m p_0)/(\text{letters} + m)$. A long line
# scores its own share; a short one is pulled towards the average, so there is no cliff at any length, and a
# one-letter line ("I", "O!") scores 0.46 (printed below), not the 1.0 of its raw share. Shown two lines, it prefers the higher score and skips the pair when the scores
# differ by less than 0.05.
#
# One more rule makes it a reader who knows the play: **vowels count only inside words of the play** (any of the
# 12,373 different words of Tiny Shakespeare; every letter still counts as a letter). On the play's own lines,
# where every word is a word of the play, this changes nothing; an invented word ("I ae you") brings letters
# and no vowels. The char-GPT can move this score in a few dozen updates by choosing vowel-rich words, and,
# pushed far enough, it writes vowel-rich non-words, which the reward model overrates and this annotator does
# not (section 6).
#
# **The length game.** A response that fills all $N$ characters without `\n` is cut mid-word. Some RLHF
# set-ups (TRL's `missing_eos_penalty`, the "N implementation details of RLHF" write-ups) take a fixed amount
# off the score of such a response; ours takes 1 (in standard units of the reward model's score). With
# $N = 64$, the base GPT's lines almost always end by themselves (the rate is printed below). The opposite
# game, lines that get *shorter*, is measured in section 7.

# %%
from lmrl_course.rlhf import VowelAnnotator, course_annotator

annotator = course_annotator(text)       # VowelAnnotator(vocabulary=every word of the play)
print(annotator)
for line in ["Now is the winter of our discontent", "O, you are too too sweet a beauty", "First Citizen", "I",
             "I am you", "I ae you"]:
    print(f"{annotator.score(line):.3f}  {line!r}  (all vowels counted: {VowelAnnotator().score(line):.3f})")
print("prefers:", annotator.prefer("O, you are too too sweet a beauty", "Now is the winter of our discontent"))

# %%
seed_everything(2)
gen = torch.Generator().manual_seed(2)
ro = sample_responses(gpt, test_prompts[:128].to(device), MAX_NEW_TOKENS, TEMPERATURE, EOS, 0, gen)
base_texts = decode_responses(tokenizer, ro.response, ro.mask, strip_eos=EOS)
base_scores = annotator.scores(base_texts)
print(f"the GPT's own lines: mean score {base_scores.mean():.3f}, std {base_scores.std():.3f}, "
      f"mean length {ro.lengths.float().mean():.1f}, cut at N without EOS: {ro.truncated.float().mean():.1%}")

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
# **Your turn:** write `bradley_terry_loss(r_chosen, r_rejected)`: two (M,) tensors of scores in, the mean
# loss over the pairs (a scalar) out. It must stay finite for large differences (the check uses −100 and +50 to
# +65), keep the inputs' dtype
# (one case is float64), and be differentiable: the check compares your gradients with the reference's too.

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
# **The data.** Sampling thousands of lines from the GPT would take minutes on a CPU (not timed here), so the candidates shown
# to the annotator are lines of the play itself (the text the GPT imitates), each cut after a random
# number of whole words so that short lines are among them too. Pairs come from the first 90% of the text
# for training and from the last 10% for the held-out accuracy. Pairs the annotator skips are dropped.
# Each pair also keeps a prompt (the 16 characters before its first line in the play); the reward model does
# not read it, DPO in notebook 10 will.
#
# **The model.** `RewardModel` is the GPT body (a copy of its first 2 blocks, for speed) with a linear
# head on the hidden state of the **last real token**:
# $r_\phi(y) = w^\top h_{\text{last}}(y) + b$, then standardised, $(r_\phi - \text{offset})/\text{scale}$, so that the
# scores of its training lines have mean 0 and std 1: every reward-model score below (and the missing-EOS penalty of
# 1) is in these standard units. The annotator judges a line on its own, so the reward model reads the response only.

# %%
from lmrl_course.rlhf import RewardModel, preference_data_from_texts, preference_accuracy, train_reward_model
from lmrl_course.rlhf.tasks import RM_RECIPE, VAL_FRACTION, random_line_pairs

n_split = int(len(text) * (1 - VAL_FRACTION))
a, b, p = random_line_pairs(text[:n_split], tokenizer, RM_RECIPE["n_train_pairs"], seed=0)
rm_train = preference_data_from_texts(a, b, tokenizer, annotator, MAX_NEW_TOKENS, EOS, prompts=p)
a, b, p = random_line_pairs(text[n_split:], tokenizer, RM_RECIPE["n_test_pairs"], seed=1)
rm_test = preference_data_from_texts(a, b, tokenizer, annotator, MAX_NEW_TOKENS, EOS, prompts=p)
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
# Does it transfer to what PPO will feed it, **lines written by the GPT**? On the 128 lines sampled above:
# the correlation of the two scores, and the **agreement**: over every two lines whose annotator scores differ
# by at least the margin (a pair the annotator would label), how often the reward model orders them the same way.

# %% tags=["solutions-skip"]
from lmrl_course.rlhf import encode_responses, words_of
from lmrl_course.rlhf.results import rm_agreement

with torch.no_grad():
    rm_scores = reward_model(ro.response, ro.mask).cpu()
corr = torch.corrcoef(torch.stack([rm_scores, base_scores]))[0, 1].item()
print(f"on the base GPT's samples: correlation {corr:.2f}, agreement {rm_agreement(rm_scores, base_scores, annotator.margin):.1%}")
real = torch.tensor([all(w in annotator.vocabulary for w in words_of(t)) for t in base_texts])
invented = sorted({w for t in base_texts for w in words_of(t) if w not in annotator.vocabulary})
print(f"{int((~real).sum())} of the {len(base_texts)} lines hold a word that is not in the play, e.g. {invented[:8]}")
print(f"agreement on the {int(real.sum())} lines made of the play's words only: "
      f"{rm_agreement(rm_scores[real], base_scores[real], annotator.margin):.1%}")
for n_lo, n_hi in ((0, 20), (20, 40), (40, 65)):
    sel = [i for i, t in enumerate(base_texts) if n_lo <= len(t) < n_hi]
    print(f"   lines of {n_lo:2}-{n_hi - 1:2} characters: {sum(not real[i] for i in sel):2} of {len(sel):2} hold an invented word")
pair = ["I am you", "I ae you", "I amooi no io in a ever in yoo"]
ids, msk = encode_responses(pair, tokenizer, MAX_NEW_TOKENS, EOS)
with torch.no_grad():
    pair_rm = reward_model(ids.to(device), msk.to(device)).cpu()
for t, r_ in zip(pair, pair_rm.tolist()):
    print(f"   {t!r:34}: reward model {r_:+.2f} | annotator {annotator.score(t):.3f}")

# %% [markdown]
# On lines of the play the reward model orders 96.8 % of the held-out pairs as the annotator does; on the GPT's own
# lines the agreement is far lower (printed above). The gap goes with **words that are not in the play** (most of
# them invented, a few real English words Shakespeare's text lacks, e.g. "butter"; "invented" below means both): 49
# of these 128 lines hold one, and on the 79 lines without one the agreement is back at 96.5 %. Those 79 include
# every line under 20 characters (printed), so length is not controlled for here; the direct test is the printed
# pair of lines. The reward model learned the taste from real lines, where every vowel sits in a real word, and it credits
# an invented word's vowels where the annotator does not: it scores "I ae you" above "I am you" (printed), the
# annotator the other way round. The data a reward model learns from is not the text the policy
# will feed it: real RLHF labels the policy's own samples (and labels new ones as the policy changes) for this
# reason. Section 6 shows what PPO makes of the gap when nothing holds it back.

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
# kl_coef)` returning the (B, N) rewards: `score` is (B,), `logp`, `ref_logp` and the bool `mask` are (B, N),
# the mask True up to and including each row's last real token, then False. The checker's padding positions
# hold log-probs too, which must not count; its cases include β = 0 and a response of a single token, where
# the score and that token's KL term share position 0.

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
fake_logp = batch.logp + 0.1 * batch.mask        # pretend π_θ has drifted: KL_t = +0.1 on every real token
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
# `LMPPOTrainer.step` runs one update: sample B = 32 lines → score them (minus the missing-EOS penalty) →
# rewards → GAE → 2 epochs × 2 minibatches of clipped-surrogate + value loss. Its history logs, per update, the
# score, the gold score, the KL (Σ_t k1 and Σ_t k3 per line), the policy's entropy per token, the fraction of
# lines cut at N, and β (which `LMPPOConfig(kl_target=...)` adapts towards a KL target, Ziegler et al. 2019).

# %% [markdown]
# ## 5 · A live PPO run
#
# Ten updates, β = 0.05. The annotator's own score is logged too (`gold_fn`), but PPO only ever
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
hist = trainer.train(train_prompts, 10, progress=True)
print(f"took {time.perf_counter() - t0:.2f} s")
print(f"first update: ratio deviates from 1 by at most {hist['ratio_dev_first'][0]:.1e}, KL = {hist['kl'][0]:.3f}")
print("entropy per token:", [round(v, 2) for v in hist["entropy"]])
print("lines cut at N   :", [round(v, 2) for v in hist["truncated_fraction"]])

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
    r_ = ev["rollout"]
    gold = gold_fn(r_.prompt, r_.response, r_.mask).cpu()
    agree = rm_agreement(rm_fn(r_.prompt, r_.response, r_.mask).cpu(), gold, annotator.margin)
    print(f"{name:6}: reward model {ev['score']:+.3f} | annotator {gold.mean():.3f} | KL {ev['kl']:.2f} nats | "
          f"length {ev['length']:.1f} | cut at N {ev['truncated_fraction']:.1%} | RM agrees with the annotator {agree:.1%}")
for name, ev in (("before", before), ("after", after)):
    print(f"--- {name}")
    for line in decode_responses(tokenizer, ev["rollout"].response[:4], ev["rollout"].mask[:4], strip_eos=EOS):
        print("   ", repr(line))

# %% [markdown]
# ## 6 · Over-optimisation, and the price of β
#
# The reward model was trained on lines of the play. Push the policy far from those lines and it scores
# texts it has never seen, where its judgement can be wrong; the policy finds those places. The KL penalty
# is the leash. The sweep below reruns the PPO of section 5 for several β, β = 0 included, and for longer:
# 40 updates at twice the learning rate (2e-4), to see where each β leads. Too slow to run live (the asset's
# own wall time is printed below), it was **precomputed** by `python -m lmrl_course.scripts.make_rlhf_assets --only sweep` (this notebook's
# recipe apart from the updates and the learning rate, and its reward model; that one command reruns all 15 runs) and is loaded from
# `assets/rlhf_beta_sweep.json`: **three seeds** (0, 1, 2) for every β. The held-out evaluation: 128
# prompts; "RM agrees" is the agreement defined above, measured on the *trained* policy's own lines.

# %%
from lmrl_course.paths import ASSETS_DIR

sweep = json.loads((ASSETS_DIR / "rlhf_beta_sweep.json").read_text())
print(f"reward model of the sweep: held-out accuracy {sweep['reward_model']['test_accuracy']:.1%} | the {len(sweep['runs'])} "
      f"runs took {sweep['wall_s'] / 60:.0f} minutes when the asset was made ({sweep['threads']} thread, {sweep['machine']})")
print(f"{'β':>5} | seed | {'proxy (RM)':>10} | {'gold':>6} | {'KL':>6} | {'length':>6} | {'cut at N':>8} | {'RM agrees':>9} | "
      "a line written after training")
base = sweep["base"]
print(f"{'base':>5} |      | {base['score']:+10.3f} | {base['gold']:6.3f} | {base['kl']:6.2f} | {base['length']:6.1f} | "
      f"{base['truncated_fraction']:8.1%} | {base['rm_agreement']:9.1%} | {base['samples'][0]!r}")
for run in sorted(sweep["runs"], key=lambda r: (r["kl_coef"], r["seed"])):
    f = run["final"]
    print(f"{run['kl_coef']:5.2f} | {run['seed']:4} | {f['score']:+10.3f} | {f['gold']:6.3f} | {f['kl']:6.2f} | "
          f"{f['length']:6.1f} | {f['truncated_fraction']:8.1%} | {f['rm_agreement']:9.1%} | {f['samples'][0]!r}")

# %% [markdown]
# Gao et al. (2022) plot the **gold** score (the annotator's, which training never sees) and the **proxy**
# score (the reward model's, which training maximises) against $\sqrt{\mathrm{KL}}$: each on its own axis below,
# one colour per β, seed 0 solid, seed 1 dashed, seed 2 dotted; all three panels show 5-update moving averages of
# the training batches, and the held-out values of the final policies are markers (filled circles: seed 0, open
# squares: seed 1, open triangles: seed 2).

# %%
from lmrl_course.rlhf.results import runs_of, smooth

betas = sorted({run["kl_coef"] for run in sweep["runs"]})
beta_color = {b: f"C{i}" for i, b in enumerate(betas)}
SEED_LINE, SEED_MARK = {0: "-", 1: "--", 2: ":"}, {0: "o", 1: "s", 2: "^"}
fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
for run in sweep["runs"]:
    h, f, c = run["history"], run["final"], beta_color[run["kl_coef"]]
    ls = SEED_LINE[run["seed"]]
    root_kl = [max(x, 0.0) ** 0.5 for x in smooth(h["kl"])]
    axes[0].plot(root_kl, smooth(h["score"]), ls, c=c, label=f"β = {run['kl_coef']}" if run["seed"] == 0 else None)
    axes[1].plot(root_kl, smooth(h["gold"]), ls, c=c)
    mk = SEED_MARK[run["seed"]]                               # held-out values: ● seed 0, □ seed 1, △ seed 2
    axes[0].plot([f["kl"] ** 0.5], [f["score"]], mk, c=c, mfc="none" if run["seed"] else c)
    axes[1].plot([f["kl"] ** 0.5], [f["gold"]], mk, c=c, mfc="none" if run["seed"] else c)
    axes[2].plot(h["update"], smooth(h["kl"]), ls, c=c)
axes[0].set_xlabel("√KL (√nats)"); axes[0].set_ylabel("proxy: reward model score"); axes[0].legend(fontsize=8)
axes[1].set_xlabel("√KL (√nats)"); axes[1].set_ylabel("gold: annotator score")
axes[2].set_xlabel("update"); axes[2].set_ylabel("KL per line (nats, 5-update average)")
axes[0].set_title("what PPO maximises", fontsize=9); axes[1].set_title("what we wanted", fontsize=9)
plt.tight_layout()
plt.show()

# %%
for run in sorted(sweep["runs"], key=lambda r: (r["kl_coef"], r["seed"])):
    h = run["history"]
    g, k = smooth(h["gold"]), smooth(h["kl"])
    i = max(range(len(g)), key=g.__getitem__)
    j = min(range(i, len(g)), key=g.__getitem__)                   # the lowest point after the peak
    u30 = h["update"].index(30)
    print(f"β = {run['kl_coef']:4}, seed {run['seed']}: gold peaks at {g[i]:.3f} (update {h['update'][i]:.0f}, "
          f"KL {k[i]:.1f}), lowest after it {g[j]:.3f} (update {h['update'][j]:.0f}), ends at {g[-1]:.3f} | "
          f"proxy at update 30 {smooth(h['score'])[u30]:+.2f}, at the end {smooth(h['score'])[-1]:+.2f} | "
          f"KL at update 30 {k[u30]:.1f}, last 10 updates {min(k[-10:]):.1f}–{max(k[-10:]):.1f}, end {k[-1]:.1f} | "
          f"RM agrees on its lines {run['final']['rm_agreement']:.1%}")

# %% [markdown]
# **What the data shows** (three seeds per β). The proxy climbs to about +2 for every β ≤ 0.05 and rises only slowly
# after update 30 (by at most 0.16).
# At β = 0 it is at +2.13 to +2.16 at update 30 and +2.14 to +2.19 at update 40 on the three seeds, while the KL
# grows on, from 47–58 nats at update 30 to 61.4, 72.5 and 149.6 nats at update 40 (5-update averages). With
# β = 0.05 the KL levels off: 14.2–19.3 nats over the last 10 updates.
#
# **At β = 0 the gold score peaks and then falls, on every seed**, while the proxy stays up: it peaks at 0.388,
# 0.487 and 0.483 (updates 11, 23 and 17, at a KL of 10.5, 29.0 and 17.3 nats) and falls to 0.304, 0.357 and 0.315
# (5-update averages of the training batches); seed 2 then recovers to 0.415 by update 40 (0.465 held out, above
# three of the β > 0 runs), its lines mostly real words ("see", "you", "sea") with fragments. Held out, two of the three β = 0 policies end *below the base model*
# (gold 0.303 and 0.339 against 0.349) with the highest proxy scores of the sweep (+2.20 and +2.21). This is the
# shape of Gao et al.'s gold curve: against √KL it rises, peaks and falls (middle panel). Unlike their proxy, which
# keeps rising, ours saturates at about +2.1 to +2.2 (left panel): more KL buys no more proxy here, and the gold
# falls. Read seed 0's and seed 1's lines ("I amooi no io in a ever in yoo"): vowel-rich non-words. The reward model
# learned the taste from lines of the play, where every vowel sits in a real word, and very likely credits these
# vowels, as it credits those of "I ae you" in section 3; the annotator counts vowels only inside words of the play
# and does not (these runs store six lines each, so the share of non-words on the policies' lines is not measured). On the β = 0 policies' own lines the reward model agrees with the annotator on 45.0 %,
# 46.9 % and 52.6 % of the pairs, a coin's rate, against 75.4 % on the base model's lines and 65.1 % to 92.3 % for 11
# of the 12 runs with β > 0.
#
# **With β > 0 every run ends above the base model** (held-out gold 0.423 to 0.550) at 12 to 32 nats, and the
# falls after a peak are smaller: at most 0.035 in the 5-update averages, except β = 0.02
# seed 0 (0.475 at update 27, 0.408 at update 33, back to 0.472 at update 40); at β = 0 they are 0.084 to 0.168.
# Which β > 0 ends best differs by seed (held out: β = 0.05 on seed 0, 0.491; β = 0.01 on seed 1, 0.517; β = 0.02
# on seed 2, 0.550), so three seeds rank no single β first. β = 0.1 pays the least KL (about 12–13 nats) and ends
# with the lowest gold of the β > 0 runs on every seed in the training batches (0.430–0.463; held out, on seed 1
# β = 0.02 is lower, 0.459 against 0.461). Its seed 2 shows that a penalty
# does not protect every seed from collapsing onto a line the reward model overrates: it ends with the highest proxy
# of its β (+1.96 in the batches, against +1.62 and +1.68) and the lowest gold of all β > 0 runs (0.423 held out),
# its stored lines all "Come.", and on its lines the reward model agrees with the annotator on 40.5 % of the pairs.
# Whether a larger β makes such a collapse likelier, three seeds cannot say.
#
# Explore the runs, one β at a time (seed 0 solid, seed 1 dashed, seed 2 dotted):

# %%
import ipywidgets as widgets
from lmrl_course.widgets import PlotWidget


def draw_run(fig, beta):
    ax = fig.subplots(1, 3)
    for run in runs_of(sweep["runs"], kl_coef=beta):
        h, ls = run["history"], SEED_LINE[run["seed"]]
        ax[0].plot(h["update"], h["score"], ls, c="tab:blue"); ax[0].set_title("proxy (reward model)", fontsize=9)
        ax[1].plot(h["update"], h["gold"], ls, c="tab:green"); ax[1].set_title("gold (annotator)", fontsize=9)
        ax[2].plot(h["update"], h["length"], ls, c="tab:purple"); ax[2].set_title("length (characters)", fontsize=9)
    for a in ax:
        a.set_xlabel("update")
    fig.suptitle(f"β = {beta}", fontsize=10)
    return "\n".join(runs_of(sweep["runs"], kl_coef=beta)[0]["final"]["samples"][:3])


PlotWidget(draw_run, {"beta": widgets.SelectionSlider(options=betas, value=betas[3], description="β")})

# %% [markdown]
# ## 7 · Who sets the length of the lines?
#
# The table above has a second story: the trained policies write **short** lines ("O you", "You"). Before
# acting on it, measure it. First, is it consistent? The final held-out mean length (characters, EOS
# included) of every stored run, seed by seed; the missing-EOS penalty's target, the fraction cut at N, beside it:

# %%
from lmrl_course.rlhf.results import method_summary

comparison = json.loads((ASSETS_DIR / "rlhf_method_comparison.json").read_text())
summary = method_summary(comparison)
print(f"base model: {comparison['base']['length']:.1f} characters, cut at N {comparison['base']['truncated_fraction']:.1%}")
for m in ("ppo", "grpo", "rloo"):
    lengths = [r["final"]["length"] for r in runs_of(comparison["runs"], method=m)]
    s = summary[m]
    cuts = [f"{r['final']['truncated_fraction']:.1%}" for r in runs_of(comparison["runs"], method=m)]
    batch_cut = max(max(r["history"]["truncated_fraction"][-10:]) for r in runs_of(comparison["runs"], method=m))
    print(f"{m.upper():9} β = 0.05, 30 updates, seeds 0-2: {lengths} -> {s['length'][0]:.1f} ± {s['length'][1]:.1f} | "
          f"cut at N {s['truncated_fraction'][0]:.1%} ± {s['truncated_fraction'][1]:.1%} ({', '.join(cuts)}; "
          f"training batches of the last 10 updates: at most {batch_cut:.1%})")
print(f"{'DPO':9} one epoch, seeds 0-2       : {[r['final']['length'] for r in comparison['dpo_runs']]} -> "
      f"{summary['dpo']['length'][0]:.1f} ± {summary['dpo']['length'][1]:.1f} | cut at N "
      f"{summary['dpo']['truncated_fraction'][0]:.1%} ± {summary['dpo']['truncated_fraction'][1]:.1%}")
print(f"{'best-of-16':10} seeds 0-2              : {summary['best_of_16']['length'][0]:.1f} ± "
      f"{summary['best_of_16']['length'][1]:.1f} | cut at N {summary['best_of_16']['truncated_fraction'][0]:.1%} ± "
      f"{summary['best_of_16']['truncated_fraction'][1]:.1%}")
for beta in betas:
    print(f"PPO sweep β = {beta:4}, 40 updates: " + ", ".join(
        f"seed {r['seed']}: {r['final']['length']:.1f}" for r in runs_of(sweep["runs"], kl_coef=beta)))

# %% [markdown]
# PPO's lines shrink on every β > 0 run of the sweep (6.2 to 20.1 characters held out; the comparison's PPO runs at
# β = 0.05 end at 14.9 to 24.3); at β = 0 they shrink and then grow
# back part of the way (24.6, 35.2 and 30.7 held out, against the base 38.1). GRPO's grow; RLOO's and DPO's shrink less than PPO's. Best-of-n, which only picks among the base
# model's lines, keeps their length. Two suspects:
#
# 1. **The taste.** Does the annotator, or the reward model that learned it, favour short lines, in its mean or
#    in its best scores (its *ceiling*: the top decile at each length)?
# 2. **The KL penalty.** $\sum_t \mathrm{KL}_t$ is paid per character: a policy that has moved away from the
#    reference may pay less for a short line.
#
# **Suspect 1.** `python -m lmrl_course.scripts.make_rlhf_assets --only length` scored 512 lines of the base model
# (held-out prompts) and 2000 lines of the play's held-out part, cut after a random number of words like the reward
# model's candidates, with the annotator and with this notebook's reward model (the same recipe, so the same
# model). Mean and 90th percentile by length (characters, the EOS not counted). In the figure each bin is drawn
# at its middle; the base model's 0–9 bin is mostly empty lines (counted in the printout), the 90th percentiles
# carry no error bars, and the play's 50–64 bin holds only 18 lines.

# %%
study = json.loads((ASSETS_DIR / "rlhf_length.json").read_text())
course = study["course"]
for name in ("base", "play"):
    c = course[name]
    print(f"{name} ({c['n']} lines): corr(length, gold) {c['corr_length_gold']:+.3f} | corr(length, proxy) "
          f"{c['corr_length_proxy']:+.3f} | corr(gold, proxy) {c['corr_gold_proxy']:+.3f}")
    print("   length      :", " | ".join(f"{r['lo']:2}-{r['hi'] - 1:2} (n={r['n']:3})" for r in c["gold_by_length"]))
    for key, fmt in (("gold_by_length", "{:.3f}"), ("gold_q90_by_length", "{:.3f}"), ("proxy_by_length", "{:+.2f}"),
                     ("proxy_q90_by_length", "{:+.2f}")):
        print(f"   {key[:-10].replace('_q90', ' q90'):12}:", " | ".join(
            fmt.format(r.get("mean", r.get("q90"))).rjust(13) for r in c[key]))
b_len, b_gold, b_proxy = (torch.tensor(course["base"][k]) for k in ("length", "gold", "proxy"))
empty = b_len == 0
corr_ne = lambda x, y: torch.corrcoef(torch.stack([x[~empty], y[~empty]]))[0, 1].item()  # noqa: E731
print(f"base: {int(empty.sum())} of the {int((b_len < 10).sum())} lines of 0-9 characters are empty (gold "
      f"{b_gold[empty].mean():.3f}, proxy {b_proxy[empty].mean():+.2f}); without the empty lines: corr(length, gold) "
      f"{corr_ne(b_len.float(), b_gold):+.3f} | corr(length, proxy) {corr_ne(b_len.float(), b_proxy):+.3f}")
d2 = course["first_two_words_minus_line"]
print(f"a line's first two words minus the whole line ({d2['n']} base lines of ≥ 4 words): proxy "
      f"{d2['proxy'][0]:+.3f} ± {d2['proxy'][1] / d2['n'] ** 0.5:.3f}, gold {d2['gold'][0]:+.4f} ± "
      f"{d2['gold'][1] / d2['n'] ** 0.5:.4f} (± 1 s.e.)")
lab = course["labels"]
print(f"the reward model's {lab['pairs']} training pairs: chosen {lab['chosen_length'][0]:.1f} characters, rejected "
      f"{lab['rejected_length'][0]:.1f}; chosen shorter in {lab['chosen_shorter']:.1%}, longer in {lab['chosen_longer']:.1%}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for ax, key, label in ((axes[0], "gold", "gold: annotator score"), (axes[1], "proxy", "proxy: reward model score")):
    for name, c in (("base", "tab:blue"), ("play", "tab:orange")):
        rows, q = course[name][f"{key}_by_length"], course[name][f"{key}_q90_by_length"]
        ax.errorbar([(r["lo"] + r["hi"]) / 2 for r in rows], [r["mean"] for r in rows],
                    yerr=[r["sem"] or 0 for r in rows], fmt="o-", c=c, capsize=3, label=f"{name}: mean ± s.e.")
        ax.plot([(r["lo"] + r["hi"]) / 2 for r in q], [r["q90"] for r in q], "^--", c=c, label=f"{name}: 90th percentile")
    ax.set_xlabel("length of the line (characters)"); ax.set_ylabel(label)
axes[0].legend(fontsize=7)
axes[0].set_title("the taste against length", fontsize=9); axes[1].set_title("the reward model against length", fontsize=9)
plt.tight_layout()
plt.show()

# %% [markdown]
# **Suspect 2.** The KL of the policy of section 5 (10 updates) on its 128 held-out lines, line by line, against
# the line's length, with a least-squares line (slope and intercept) fitted to the lines that are not empty; and,
# for the sweep, the final KL divided by the final length, an average per character (it says what a line costs
# on average, not what one more character costs). Left panel: the sweep's training batches, with the base model's
# held-out length as a dotted line.

# %%
from lmrl_course.rlhf import kl_k1

r_ = after["rollout"]
with torch.no_grad():
    kl_line = kl_k1(response_logprobs(policy, r_.prompt, r_.response, TEMPERATURE, r_.mask),
                    response_logprobs(ref_policy, r_.prompt, r_.response, TEMPERATURE, r_.mask), r_.mask).sum(1).cpu()
n_line = r_.mask.sum(1).float().cpu()                                     # characters, the EOS included
full = n_line > 1                                                         # not an empty line (EOS only)
slope, intercept = torch.linalg.lstsq(torch.stack([n_line[full], torch.ones(int(full.sum()))], 1),
                                      kl_line[full, None]).solution[:, 0].tolist()   # least squares with an intercept
print(f"section 5's policy: corr(length, Σ_t KL_t) {torch.corrcoef(torch.stack([n_line, kl_line]))[0, 1]:+.2f} on all "
      f"{len(n_line)} lines, {torch.corrcoef(torch.stack([n_line[full], kl_line[full]]))[0, 1]:+.2f} without the "
      f"{int((~full).sum())} empty ones | fitted slope there {slope:.3f} nats per character | at β = {cfg.kl_coef}: "
      f"20 characters more pay {cfg.kl_coef * slope * 20:.3f} more on the fitted line")
for run in sorted(sweep["runs"], key=lambda r: (r["kl_coef"], r["seed"])):
    f = run["final"]
    print(f"sweep β = {run['kl_coef']:4}, seed {run['seed']}: final KL / final length = {f['kl'] / f['length']:.2f} nats per "
          f"character (an average, not the price of one more) | β times that: {run['kl_coef'] * f['kl'] / f['length']:.3f} "
          f"| the proxy gained {f['score'] - sweep['base']['score']:+.2f}")
for run in runs_of(sweep["runs"], kl_coef=0.0):
    n_s = smooth(run["history"]["length"])
    i = min(range(len(n_s)), key=n_s.__getitem__)
    print(f"sweep β = 0, seed {run['seed']}: 5-update-average length falls to {n_s[i]:.1f} (update "
          f"{run['history']['update'][i]:.0f}); over the last 10 updates {min(n_s[-10:]):.1f}–{max(n_s[-10:]):.1f}")
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for run in sweep["runs"]:
    axes[0].plot(run["history"]["update"], smooth(run["history"]["length"]), SEED_LINE[run["seed"]],
                 c=beta_color[run["kl_coef"]], label=f"β = {run['kl_coef']}" if run["seed"] == 0 else None)
axes[0].axhline(sweep["base"]["length"], c="gray", ls=":", label="base model (held out)")
axes[0].set_xlabel("update"); axes[0].set_ylabel("mean length (characters)"); axes[0].legend(fontsize=7)
axes[0].set_title("the sweep's training batches (5-update averages; seed 1 dashed)", fontsize=9)
axes[1].plot(n_line, kl_line, ".", alpha=0.6)
xs = torch.tensor([2.0, float(n_line.max())])
axes[1].plot(xs, intercept + slope * xs, c="tab:red", label=f"fit without empty lines: slope {slope:.3f} nats/char")
axes[1].set_xlabel("length of the line (characters)"); axes[1].set_ylabel("Σ_t KL_t of the line (nats)")
axes[1].set_title("section 5's policy, 128 held-out lines", fontsize=9); axes[1].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# **What the data shows.**
#
# - **The taste's mean does not favour short lines of the play.** On the play's lines the annotator's mean does not
#   depend on length (bin means 0.376–0.381, correlation −0.025), and the reward model's bin means scatter around 0
#   with no trend (correlation +0.020). On the base model's lines the annotator's score tends to fall with length
#   (0.378 at 10–19 characters, 0.362 at 30–39, 0.334 at 50–64; correlation −0.151, −0.105 without the empty lines):
#   a longer line of the base GPT more often holds an invented word, whose vowels the annotator does not count
#   (section 3 counts them by length on its 128 lines), and the prior pulls the shortest lines towards 0.37, above
#   the base model's mean of 0.347 (section 2). The reward model's bin means drop at 50–64 too (−0.29 against −0.01 at 30–39), but its correlation
#   with length is −0.034 without the empty lines (+0.184 with them). Its −0.75 for 0–9 characters is almost all
#   empty lines (48 of 52; an empty line scores −0.74 with it and 0.370, the prior, with the annotator). A line's
#   first two words score 0.119 ± 0.041 *less* than the whole line with the reward model, and 0.0138 ± 0.0029 *more*
#   with the annotator (fewer chances of an invented word, and more pull from the prior). PPO is trained on the reward model, which prefers the
#   whole line, so the annotator's lean towards short base lines is not what PPO sees. The labels lean only a little
#   towards the shorter line (chosen 19.9 characters, rejected 21.3; chosen shorter in 50.9 % of the pairs, longer in
#   47.3 %).
# - **The taste's ceiling (its top decile by length) does not explain it by itself.** On the play's lines the top
#   decile of the score is a little higher for short lines (0.460 at 0–9 characters against 0.428 at 40–49; the
#   reward model's +1.75 against +1.21 to +1.58). But 0.460 is the score of a one-letter line ("I", section 2), and
#   11 of the sweep's 15 trained policies end above it (0.461 to 0.550 held out); on the base model's lines the 0–9
#   bin has the *lowest* 90th percentiles (0.370 and −0.74, its empty lines) and the reward model's is highest at
#   20–29 characters (+1.66); and best-of-16, which picks the reward model's favourite among 16 base lines, keeps the
#   base length (38.4 ± 1.0 against 38.1).
# - **The summed KL: no charge per character shows in section 5's policy.** After 10 updates it pays more KL on
#   longer lines only through its empty lines: correlation +0.30 over all 128 lines, +0.01 without the 6 empty ones
#   (right panel: they sit at length 1 with Σ_t KL_t below 0); the line fitted to the others has a slope of 0.006
#   nats per character, so 20 characters more cost 0.006 at β = 0.05, nothing beside its gain of +1.17 in proxy
#   score (this is the 10-update policy; the 30-update runs further below were not measured this way). The sweep's final KL divided by the final length (1.12 to 4.29 nats per character) is an average over
#   whole lines, not a slope, so it does not price one more character. At update 40 the runs with a KL penalty are
#   shorter than those without, on every seed (24.6, 35.2 and 30.7 characters held out at β = 0; at most 20.1 at
#   any β > 0). β = 0.01 and 0.02 overlap across seeds (15.9–17.2 and 13.1–20.1), as do β = 0.05 and 0.1 (8.3–11.7
#   and 6.2–10.8), and every β = 0.05 or 0.1 run ends shorter than every β = 0.01 or 0.02 run: a larger β tends to
#   end shorter, a trend on three seeds at one stopping point, and PPO at β = 0.05 ends anywhere from 8.3 (sweep) to 24.3 characters (comparison runs,
#   30 updates).
# - **Not the KL alone.** At β = 0 nothing charges for length, and the lines shorten anyway (left panel: the three
#   β = 0 runs fall to 14.0–18.1 characters in their 5-update averages); then seed 1 climbs back to near the base
#   model's length (35.2 held out), while seeds 0 and 2, whose lines are non-words too, reach their shortest late
#   (5-update averages at updates 37 and 28) and are growing again at update 40 (held out 24.6 and 30.7).
#   Across the methods (β = 0.05, 30 updates, three seeds; mean ± std over seeds) PPO's lines get short (18.8 ±
#   4.9), RLOO's a little (33.8 ± 2.4), GRPO's grow (47.2 ± 2.4). RLOO subtracts the same total Σ_t k1 from a line's return as PPO (as one
#   sequence-level reward, with no value head and no GAE) and keeps longer lines, so the size of the KL charge is
#   not the whole difference; GRPO differs in more than its KL too (notebook 09: a k3
#   loss term, in no advantage, and advantages divided by the group's std). These runs do not separate the causes.
#
# The missing-EOS penalty guards the other end: on average at most 1.6 % of any trained policy's held-out lines are
# cut at N (up to 3.1 % for GRPO seed 1, and up to 6.2 % of a GRPO training batch in its last 10 updates; the base
# model's 1.6 %). So the penalty is not what holds PPO's lines short at the end (printed above: none of its last
# training batches is cut); whether it nudged the early updates these runs do not test. It may limit GRPO's growth.
#
# **A length-neutral taste (a prototype).** One candidate fix for the ceiling is to score a line against lines *of
# its own length*: `LengthNeutralVowelAnnotator` standardises the vowel share within buckets of 5 letters (1–4, 5–9, ..., the last 40 and more), with the
# mean and std of the play's training-part lines of that bucket, so that on those lines every bucket has mean 0 and
# std 1 (on the held-out lines below, the bin means by characters lie at +0.05 to +0.21). Like the course's
# annotator it counts vowels only inside words of the play; unlike it, it has no prior (m = 0).
# `make_rlhf_assets --only length` also trained a reward model on it (same recipe) and then ran the course's PPO against that
# reward model (the pilot; `--only pilot` reruns it alone), one seed, for β = 0.05 and β = 0:

# %%
neutral = study["length_neutral"]
print(neutral["annotator"], "| bucket edges (letters):", neutral["bucket_edges_letters"])
print("  share mean per bucket:", neutral["bucket_means"])
print("  share std per bucket :", neutral["bucket_stds"])
print(f"its reward model (the same recipe): held-out accuracy {neutral['reward_model']['test_accuracy']:.1%} on "
      f"{neutral['reward_model']['test_pairs']} pairs ({course['reward_model']['test_accuracy']:.1%} for the course's)")
for name in ("play", "base"):
    c = neutral[name]
    print(f"{name}: corr(length, gold) {c['corr_length_gold']:+.3f} | corr(length, proxy) {c['corr_length_proxy']:+.3f}")
    for key in ("gold_by_length", "gold_q90_by_length", "proxy_by_length", "proxy_q90_by_length"):
        print(f"   {key[:-10].replace('_q90', ' q90'):12}:", " | ".join(
            f"{r['lo']:2}-{r['hi'] - 1:2}: {r.get('mean', r.get('q90')):+.2f}" for r in c[key]))
n_base = neutral["base"]
n_empty = [i for i, n in enumerate(n_base["length"]) if n == 0]
print(f"   its {len(n_empty)} empty base lines: gold {sum(n_base['gold'][i] for i in n_empty) / len(n_empty):+.2f}, "
      f"proxy {sum(n_base['proxy'][i] for i in n_empty) / len(n_empty):+.2f}")
lab = neutral["labels"]
print(f"training pairs: chosen {lab['chosen_length'][0]:.1f} characters, rejected {lab['rejected_length'][0]:.1f}")
ppo0 = runs_of(comparison["runs"], method="ppo", seed=0)[0]["final"]
print(f"\nPPO, the course recipe (β = 0.05, 30 updates, seed 0), course taste : length {ppo0['length']:.1f} | "
      f"KL {ppo0['kl']:.1f} | {ppo0['samples'][:3]}")
for run in neutral.get("pilot_runs", []):
    f = run["final"]
    print(f"PPO, β = {run['kl_coef']:4}, {run['updates']} updates, seed {run['seed']}, length-neutral taste: length "
          f"{f['length']:.1f} | KL {f['kl']:.1f} | gold {f['gold']:+.2f} (base {neutral['pilot_base']['gold']:+.2f}) | "
          f"RM agrees {f['rm_agreement']:.0%} | {f['samples'][:3]}")

# %% [markdown]
# **What the prototype shows** (one seed per β). On the play's held-out lines the length-neutral score's bin means
# rise slowly with length (+0.05 standard units at 0–9 characters to +0.21 at 50–64, correlation with length
# +0.026); its top decile (90th percentiles) lies between +1.26 and +1.52, the shortest lines now the lowest. Its reward model reaches 91.4 % held-out accuracy
# on its 361 test pairs (the course's: 96.8 % on 217 other pairs, so the two figures are not directly comparable).
# On the base model's lines its score falls with length (bin means −0.27 to −0.79 from 20 characters on, against
# +0.02 at 10–19; correlation −0.132), the invented words again. Its pilot shows over-optimisation too: at β = 0 the
# gold ends at +0.59 with the reward model agreeing on 63 % of the pairs, at β = 0.05 at +1.21 with 80 % (base
# model −0.52; one seed each, and the β = 0 run moved further, KL 21.6 against 7.5).
# **But PPO's lines still get short** against it: 18.8 characters at β = 0.05 and 13.3 at β = 0, one seed each. The
# course's taste with the same recipe gives 14.9 on seed 0 and 14.9 to 24.3 over its three seeds, so in length one
# seed cannot tell the two tastes apart; and here the β = 0 run is the shorter one, unlike in the sweep, where every
# β = 0 run ends longer than every β > 0 run (but the sweep ran 40 updates at lr 2e-4 and the pilot 30 at 1e-4: no
# course-taste β = 0 run exists at the pilot's recipe). Candidate reasons, none
# tested here: its reward model gives the base model's shortest lines (0–9 characters) +0.50 on average where the
# score gives them −0.11, and those are almost all empty lines, which it scores +0.59 against the score's 0.00 (no
# empty line was among its training candidates, whose shortest are one word of the play). On the play's lines its
# reward model's top decile is still highest for the shortest lines (+1.54; on the base model's lines that bin's is
# the lowest, +0.59). And standardising equalises the spread of the score on the play's lines, not the effort of
# raising it: with the printed stds, one vowel more moves a line of 7 letters by 1/(7 · 0.098) = 1.5 standard units
# and a line of 32 letters by 1/(32 · 0.046) = 0.68, so the same word choice still pays more in a short line.
#
# **An intervention on suspect 2.** Correlations cannot say whether the summed KL drives the shortening; changing
# the charge can test it, as long as the charge's overall size stays comparable (here it does not quite; see below). `LMPPOConfig(kl_length_ref=L)` charges each token β · kl_t · L / |y| instead of β · kl_t, so that
# a line pays β · L · mean_t kl_t whatever its length (the same as the standard charge for a line of L tokens; here
# L = 38, about the base model's mean length). `make_rlhf_assets --only klnorm` ran the comparison's PPO recipe with
# it (β = 0.05, 30 updates, the course's taste and reward model, seeds 0-2), set against the comparison's PPO runs
# on the same seeds:

# %%
klnorm = study["kl_length_ref"]
print(f"base model: length {comparison['base']['length']:.1f} | gold {comparison['base']['gold']:.3f}")
for r in klnorm["runs"]:
    f, g = r["final"], runs_of(comparison["runs"], method="ppo", seed=r["seed"])[0]["final"]
    print(f"seed {r['seed']}: summed KL (the course) length {g['length']:5.1f}, gold {g['gold']:.3f}, KL {g['kl']:5.1f} | "
          f"per-token mean × {klnorm['length_ref']:g}: length {f['length']:5.1f}, gold {f['gold']:.3f}, KL {f['kl']:5.1f} "
          f"| {f['samples'][:2]}")
for r in klnorm["runs"]:  # the same KL on both sides: the summed-KL run's training batch when its KL got there
    hn, hs = r["history"], runs_of(comparison["runs"], method="ppo", seed=r["seed"])[0]["history"]
    kl_n, len_n = sum(hn["kl"][-10:]) / 10, sum(hn["length"][-10:]) / 10
    i = next(i for i, k in enumerate(hs["kl"]) if k >= kl_n)
    print(f"seed {r['seed']}: per-token-mean run, last 10 training batches: KL {kl_n:4.1f}, length {len_n:4.1f} | "
          f"summed-KL run, first training batch with KL ≥ {kl_n:4.1f}: update {hs['update'][i]:.0f}, length "
          f"{hs['length'][i]:4.1f}")

# %% [markdown]
# Per seed (printed): with the KL charged per token on average the lines end longer on seeds 0 and 1 (26.1 and 22.1
# characters against 14.9 and 17.1) and about the same on seed 2 (25.5 against 24.3), all far below the base
# model's 38.1. They also end with less KL (7.5 to 12.0 nats
# against 13.9 to 16.0) and a lower gold score (0.445 to 0.465 against 0.481 to 0.492). One likely reason: a line
# shorter than 38 characters now has its KL term multiplied by 38/|y| (about 1.5 to 1.7 at the lengths reached, 38
# for an empty line), a stronger charge than before (or a larger credit where the estimate is negative). At the same
# KL the comparison is different (last lines printed): when the summed-KL runs' training batches first reached the
# KL the per-token-mean runs end at, their lines were as long or longer (27.9, 41.0 and 27.1 characters against
# 25.8, 25.4 and 26.4; each of the first three is a single batch of 32 lines, the first to cross the level, so only
# seed 1's gap, 15.6 characters, is a large one). So these runs cannot show whether the summed KL itself shortens PPO's lines: the normalised
# charge also restrains the policy. With a charge that no longer grows with the number of tokens the lines still
# shrink, as they do mid-run at β = 0 in the sweep. (Three seeds, one β, 30 updates.)
#
# So a length-neutral taste does not stop the drift in this one-seed pilot, and the course keeps the vowel
# annotator (every precomputed run is built on it). Section 5's policy pays more KL on longer lines only through
# its 6 empty lines (correlation +0.30, +0.01 without them), and charging the KL per token on average ends with
# longer lines on two of three seeds (about the same on the third), with less KL and a lower gold score, so these
# runs do not show whether the summed KL itself shortens the lines; something else (the taste, its reward model, or
# how PPO assigns credit within a line; none isolated here) shortens them too, since lines shorten at β = 0. What the data supports is the lesson: **the length of what a policy writes can drift far from the
# base model's while the score it is trained on climbs, for reasons a handful of runs do not pin down; read the
# length of the samples beside the score.** In practice the length is controlled directly: a length term in the
# reward or a reward model trained to ignore length, a length-normalised KL (above: lines end 22–26 characters against 15–24, still far below 38.1, with a lower gold
# score), or the length reported and capped
# beside every score.

# %% [markdown]
# ## 8 · Common mistakes, run side by side
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
# > sign problem (about as many lines get a negative estimate as with the right temperature, printed below)
# > but not the bias: with the fine-tuned policy of section 5, 256 lines, each estimate minus
# > the exact KL of the same lines (summed over the vocabulary from both models' full distributions at
# > τ = 0.7). The right estimate is off by no more than its noise; the mistaken one is biased low.

# %% tags=["solutions-skip"]
seed_everything(7)
gen = torch.Generator().manual_seed(7)
ro7 = sample_responses(policy, test_prompts[:256].to(device), MAX_NEW_TOKENS, TEMPERATURE, EOS, 0, gen)
with torch.no_grad():
    z_pol = response_logits(policy, ro7.prompt, ro7.response)
    z_ref = response_logits(ref_policy, ro7.prompt, ro7.response)
exact = (exact_kl(z_pol, z_ref, TEMPERATURE) * ro7.mask).sum(1)                     # Σ_t exact KL_t, per line
print(f"exact KL at τ = 0.7 (summed over the vocabulary): {exact.mean():.3f} nats per line")
for tau, label in ((1.0, "mistake: all log-probs at τ = 1  "), (TEMPERATURE, "right: all log-probs at τ = 0.7")):
    lp = torch.log_softmax(z_pol / tau, -1).gather(2, ro7.response[..., None])[..., 0]
    lq = torch.log_softmax(z_ref / tau, -1).gather(2, ro7.response[..., None])[..., 0]
    est = kl_k1(lp, lq, ro7.mask).sum(1)
    diff = est - exact                                                                 # estimate − exact, per line
    print(f"{label}: estimate − exact = {diff.mean():+.3f} ± {diff.std() / len(diff) ** 0.5:.3f} nats (± 1 s.e.) | "
          f"lines with a negative estimate {(est < 0).float().mean():.0%}")

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
batch8 = trainer.make_batch(test_prompts[:32].to(device))   # a real PPO batch of the trained policy, with advantages
with torch.no_grad():
    wrong = response_logprobs(policy, batch8["prompt"], batch8["response"], 1.0, batch8["mask"])   # forgot τ
    right = response_logprobs(policy, batch8["prompt"], batch8["response"], TEMPERATURE, batch8["mask"])
m8, adv8 = batch8["mask"], batch8["advantages"]
for label, lp in (("mistake", wrong), ("right  ", right)):
    ratio = (lp - batch8["logp_old"]).exp()
    # the clipped term is flat (zero gradient) where the ratio is past the clip on the side the advantage pushes
    dead = ((ratio > 1.2) & (adv8 > 0)) | ((ratio < 0.8) & (adv8 < 0))
    print(f"{label}: ratio in [{ratio[m8].min():.3f}, {ratio[m8].max():.3f}] | outside [0.8, 1.2] before any step: "
          f"{clip_fraction(ratio[m8], 0.2).item():.0%} of the tokens | outside and with zero gradient: "
          f"{dead[m8].float().mean().item():.0%} of all tokens")

# %% [markdown]
# > With the mistake, PPO's clip is active before the policy has moved. A clipped token loses its gradient only
# > when the advantage pushes the ratio further out (ratio > 1 + ε with Â > 0, or < 1 − ε with Â < 0); the last
# > column counts those, as a share of all tokens. The other tokens are pushed by ratios that measure a temperature
# > change, not learning. The trainer records `ratio_dev_first` (|ratio − 1| at the first minibatch) for exactly
# > this check.
#
# > **Common mistake 3: EOS used as padding.** Our pad id is 0, and id 0 is `\n`, the EOS. If the mask is rebuilt
# > from the token ids (`response != pad_id`) instead of being stored at sampling time, every real EOS disappears
# > from the loss, and the score moves to the character before it:

# %%
from lmrl_course.rlhf import last_token_index

resp8, mask8 = batch8["response"], batch8["mask"]
wrong_mask = resp8 != 0                                          # "padding is wherever the id is 0"
ended = ~batch8["truncated"]
print(f"lines that ended with EOS: {int(ended.sum())} of {len(ended)}")
print(f"EOS tokens dropped from the loss by the wrong mask: {int((mask8 & ~wrong_mask).sum())}")
print("last real token, right mask       :", last_token_index(mask8)[:8].tolist())
print("last real token, wrong mask (naive):", (wrong_mask.long().sum(1) - 1)[:8].tolist())

# %% [markdown]
# > With the wrong mask the policy never receives a gradient for *ending* a line: the EOS decision itself
# > gets no gradient; length is then steered only indirectly, through the other characters' gradients (the
# > softmax moves the probability of `\n` with them) and their summed KL (this cell shows the dropped tokens,
# > not a training run with the bug). The
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
# - With β = 0 the reward model's score climbs: is the policy getting better? What tells you? Why can the reward
#   model's judgement be right on the play's lines and wrong on the policy's?
# - You see negative KL estimates in your logs. Name two possible causes.
# - On the play's lines the annotator's mean score does not depend on the length of a line, yet PPO's lines get
#   short. Section 7 tests two suspects: what does each measurement show, why does neither settle the question,
#   and which run would?
#
# **Next:** notebook 09 drops the value head. GRPO and RLOO sample several lines per prompt and use the
# group itself as the baseline.
