"""RLHF facts and wiring against independent references: exact enumeration, hand loops, autograd of the
true KLs. Each test here was seen failing under the mutation it guards (see the comments ``guards:``).

Small random GPTs (no training), so this file runs in seconds.
"""
import copy
import math

import pytest
import torch

from lmrl_course.exercises import get_exercise
from lmrl_course.gpt import GPT, GPTConfig
from lmrl_course.rlhf import (ActorCritic, AdaptiveKLController, GroupConfig, GroupTrainer, LMPPOConfig, LMPPOTrainer,
                              best_of_n, best_of_n_kl, dpo_loss, expected_estimator_gradients, group_loss,
                              lm_ppo_loss, response_logits, response_logprobs, sample_responses)

EOS = 1


def tiny_gpt(seed, vocab=5, block=24, scale=1.0):
    torch.manual_seed(seed)
    m = GPT(GPTConfig(vocab_size=vocab, block_size=block, n_layer=1, n_head=2, n_embd=16))
    with torch.no_grad():
        m.transformer.wte.weight.mul_(scale)
    return m.eval()


def reward_sum_of_ids(prompt, response, mask):
    """A toy reward that differs between responses: the sum of the real response ids."""
    return (response * mask).sum(1).float()


# ----------------------------------------------------------------------------- item 1: which KL where

def test_expected_gradients_of_kl_estimators_by_exact_enumeration():
    """k1 as a loss → 0; k2 as a loss → ∇KL(π‖ref); k3 as a loss → ∇KL(ref‖π); k1 in the reward → ∇KL(π‖ref)."""
    g = torch.Generator().manual_seed(0)
    V = 6
    theta = torch.randn(V, generator=g, dtype=torch.float64)
    ref_logits = torch.randn(V, generator=g, dtype=torch.float64)
    logq = torch.log_softmax(ref_logits, 0)

    # the true KLs and their gradients, by autograd of the closed forms
    th = theta.clone().requires_grad_(True)
    logp = torch.log_softmax(th, 0)
    (g_fwd,) = torch.autograd.grad((logp.exp() * (logp - logq)).sum(), th)  # ∇ KL(π_θ ‖ π_ref)
    th = theta.clone().requires_grad_(True)
    logp = torch.log_softmax(th, 0)
    (g_rev,) = torch.autograd.grad((logq.exp() * (logq - logp)).sum(), th)  # ∇ KL(π_ref ‖ π_θ)
    assert (g_fwd - g_rev).abs().max() > 0.05, "the two directions must differ on this example"

    # an independent hand loop: outcome by outcome, the per-sample gradient of each usage, weighted by π(x)
    p = torch.softmax(theta, 0)
    hand = {k: torch.zeros(V, dtype=torch.float64) for k in ("k1_loss", "k2_loss", "k3_loss", "k1_reward")}
    for x in range(V):
        for name in hand:
            th = theta.clone().requires_grad_(True)
            lp_x = torch.log_softmax(th, 0)[x]
            l_x = lp_x - logq[x]
            if name == "k1_loss":
                val = l_x
            elif name == "k2_loss":
                val = 0.5 * l_x ** 2
            elif name == "k3_loss":
                val = torch.exp(-l_x) - 1 + l_x
            else:  # REINFORCE with reward −k1(x): the loss is −R·log π(x) = k1(x)·log π(x), k1 held fixed
                val = float(l_x.detach()) * lp_x
            (gx,) = torch.autograd.grad(val, th)
            hand[name] += float(p[x]) * gx

    got = expected_estimator_gradients(theta, ref_logits)
    for name in hand:
        torch.testing.assert_close(got[name], hand[name], atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(hand["k1_loss"], torch.zeros(V, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(hand["k2_loss"], g_fwd, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(hand["k3_loss"], g_rev, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(hand["k1_reward"], g_fwd, atol=1e-12, rtol=1e-10)


# ----------------------------------------------------------------------------- best-of-n

def _bon_exact_kl(p: torch.Tensor, n: int) -> float:
    """KL(π_n ‖ π) of best-of-n on a categorical whose outcomes are sorted by reward (all rewards distinct):
    π_n(x) = F(x)^n − F(x−1)^n."""
    F = p.cumsum(0)
    F_prev = torch.cat([torch.zeros(1, dtype=p.dtype), F[:-1]])
    pn = F ** n - F_prev ** n
    return float((pn * (pn / p).log()).sum())


@pytest.mark.parametrize("n", [1, 2, 4, 16])
def test_best_of_n_kl_matches_the_exact_kl_of_a_fine_categorical(n):
    p = torch.softmax(torch.randn(20000, generator=torch.Generator().manual_seed(n), dtype=torch.float64) * 0.3, 0)
    exact = _bon_exact_kl(p, n)
    assert exact <= best_of_n_kl(n) + 1e-9  # an upper bound ...
    assert abs(exact - best_of_n_kl(n)) < 2e-3  # ... that is tight when no outcome is likely
    assert best_of_n_kl(1) == 0.0
    # a coarse categorical: the formula is only an upper bound
    coarse = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    assert _bon_exact_kl(coarse, n) <= best_of_n_kl(n) + 1e-12


def test_best_of_n_kl_by_monte_carlo():
    n, M = 4, 50
    p = torch.full((M,), 1.0 / M, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    draws = torch.randint(M, (200_000, n), generator=g)  # reward = the outcome's index
    best = draws.max(1).values
    freq = torch.bincount(best, minlength=M).double() / len(best)
    mc = float((freq[freq > 0] * (freq[freq > 0] / p[freq > 0]).log()).sum())
    assert abs(mc - _bon_exact_kl(p, n)) < 0.01
    assert abs(mc - best_of_n_kl(n)) < 0.05


def test_best_of_n_keeps_the_highest_scoring_of_each_prompts_candidates():
    model = tiny_gpt(3, scale=2.0)
    prompts = torch.randint(0, 5, (6, 3), generator=torch.Generator().manual_seed(1))
    n = 5
    chosen, scores = best_of_n(model, prompts, reward_sum_of_ids, n, 6, 1.0, EOS, 0, torch.Generator().manual_seed(7))
    every = sample_responses(model, prompts.repeat_interleave(n, 0), 6, 1.0, EOS, 0, torch.Generator().manual_seed(7))
    all_scores = reward_sum_of_ids(None, every.response, every.mask)
    for b in range(6):
        cands = [float(all_scores[b * n + j]) for j in range(n)]  # this prompt's n candidates
        top = max(cands)
        row = b * n + cands.index(top)  # the first of the best
        assert float(scores[b]) == top
        assert torch.equal(chosen.response[b], every.response[row]) and torch.equal(chosen.prompt[b], prompts[b])


# ----------------------------------------------------------------------------- DPO

def test_dpo_loss_matches_hand_loop_and_gradient():
    g = torch.Generator().manual_seed(0)
    pc, pr, rc, rr = (-torch.rand(7, generator=g, dtype=torch.float64) * 30 for _ in range(4))
    beta = 0.3
    hand = 0.0
    for i in range(7):
        h = beta * ((float(pc[i]) - float(rc[i])) - (float(pr[i]) - float(rr[i])))
        hand += -math.log(1.0 / (1.0 + math.exp(-h)))
    assert abs(float(dpo_loss(pc, pr, rc, rr, beta)) - hand / 7) < 1e-12
    # gradient w.r.t. the chosen log-prob: −β σ(−h) / M per pair
    pc = pc.clone().requires_grad_(True)
    dpo_loss(pc, pr, rc, rr, beta).backward()
    h = beta * ((pc.detach() - rc) - (pr - rr))
    torch.testing.assert_close(pc.grad, -beta * torch.sigmoid(-h) / 7)
    assert torch.isfinite(dpo_loss(torch.tensor([-1e4]), torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([0.0]), 1.0))
    with pytest.raises(ValueError, match="beta"):
        dpo_loss(pc.detach(), pr, rc, rr, 0.0)


# ----------------------------------------------------------------------------- the losses average over real tokens

def _padded_batch(device, extra_pad=0, B=6, P=3, N=8, seed=0):
    """A fixed batch; ``extra_pad`` appends that many padding columns (mask False) to every (B, N) tensor."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([8, 3, 1, 5, 8, 2][:B])
    mask = torch.arange(N)[None] < lengths[:, None]
    b = {"prompt": torch.randint(0, 5, (B, P), generator=g), "response": torch.randint(0, 5, (B, N), generator=g),
         "mask": mask, "logp_old": -torch.rand(B, N, generator=g) - 1.0, "values_old": torch.randn(B, N, generator=g),
         "advantages": torch.randn(B, N, generator=g), "returns": torch.randn(B, N, generator=g),
         "ref_logp": -torch.rand(B, N, generator=g) - 1.0}
    if extra_pad:
        for k in ("response", "logp_old", "values_old", "advantages", "returns", "ref_logp"):
            b[k] = torch.cat([b[k], torch.zeros(B, extra_pad, dtype=b[k].dtype)], 1)
        b["mask"] = torch.cat([mask, torch.zeros(B, extra_pad, dtype=torch.bool)], 1)
    return {k: v.to(device) for k, v in b.items()}


def test_ppo_policy_loss_is_a_mean_over_real_tokens(device):
    """guards: clipped_surrogate_loss called without the mask (a mean over padding too)."""
    model = ActorCritic(tiny_gpt(5)).to(device)
    cfg = LMPPOConfig(temperature=0.7, batch_size=6, num_minibatches=1, clip_coef=0.2)
    batch = _padded_batch(device)
    _, info = lm_ppo_loss(model, batch, cfg)
    # hand loop over the real tokens only
    with torch.no_grad():
        logp, _ = model(batch["prompt"], batch["response"], cfg.temperature)
    terms = []
    for b in range(6):
        for t in range(int(batch["mask"][b].sum())):
            r = math.exp(float(logp[b, t]) - float(batch["logp_old"][b, t]))
            a = float(batch["advantages"][b, t])
            terms.append(min(r * a, min(max(r, 0.8), 1.2) * a))
    assert abs(float(info["policy_loss"]) + sum(terms) / len(terms)) < 1e-5
    _, info_wide = lm_ppo_loss(model, _padded_batch(device, extra_pad=5), cfg)  # more padding, same loss
    assert abs(float(info_wide["policy_loss"]) - float(info["policy_loss"])) < 1e-6
    assert abs(float(info_wide["value_loss"]) - float(info["value_loss"])) < 1e-6


@pytest.mark.parametrize("method", ["grpo", "rloo"])
def test_group_loss_is_a_mean_over_real_tokens_with_the_k3_term(device, method):
    """guards: the surrogate or the k3 term averaged over padding; GRPO's β not applied to the k3 term."""
    policy = tiny_gpt(6).to(device)
    cfg = GroupConfig(method=method, kl_coef=0.37, temperature=0.7)
    batch = _padded_batch(device)
    batch["advantages"] = batch["advantages"][:, 0]
    loss, info = group_loss(policy, batch, cfg)
    with torch.no_grad():
        logp = response_logprobs(policy, batch["prompt"], batch["response"], 0.7)
    pg, k3, n = 0.0, 0.0, 0
    for b in range(6):
        a = float(batch["advantages"][b])
        for t in range(int(batch["mask"][b].sum())):
            r = math.exp(float(logp[b, t]) - float(batch["logp_old"][b, t]))
            pg -= min(r * a, min(max(r, 0.8), 1.2) * a)
            rho = math.exp(float(batch["ref_logp"][b, t]) - float(logp[b, t]))
            k3 += rho - 1 - math.log(rho)
            n += 1
    want = pg / n + (0.37 * k3 / n if method == "grpo" else 0.0)
    assert abs(float(loss.detach()) - want) < 1e-5
    wide = _padded_batch(device, extra_pad=5)
    wide["advantages"] = wide["advantages"][:, 0]
    assert abs(float(group_loss(policy, wide, cfg)[0].detach()) - float(loss.detach())) < 1e-6


# ----------------------------------------------------------------------------- each trainer's batch wiring

def _two_models(device):
    ref = tiny_gpt(8, scale=2.0).to(device)
    policy = tiny_gpt(9, scale=2.0).to(device)  # differs from ref: the KL is not 0
    return policy, ref


@pytest.mark.parametrize("length_ref", [None, 4.0])
def test_ppo_batch_wiring_by_hand(device, length_ref):
    """β = cfg.kl_coef in the per-token reward (× L/|y| with ``kl_length_ref = L``), the missing-EOS penalty,
    GAE(γ, λ), whitening over real tokens. guards: whitening over padding, a wrong β, the penalty not applied,
    kl_length_ref not reaching the rewards (or dividing by the padded length N instead of |y|)."""
    policy, ref = _two_models(device)
    cfg = LMPPOConfig(batch_size=12, max_new_tokens=6, temperature=0.7, kl_coef=0.37, gae_lambda=0.9,
                      missing_eos_penalty=2.5, kl_length_ref=length_ref)
    tr = LMPPOTrainer(policy, ref, reward_sum_of_ids, cfg, eos_id=EOS, device=device, seed=0)
    prompts = torch.randint(0, 5, (12, 3), generator=torch.Generator().manual_seed(0))
    batch = tr.make_batch(prompts)
    mask = batch["mask"].cpu()
    lengths = mask.sum(1).tolist()
    assert 0 < int(batch["truncated"].sum()) < 12 and min(lengths) < 6, "the test needs both kinds of response"
    with torch.no_grad():
        logp, values = tr.model(batch["prompt"], batch["response"], 0.7)
        ref_logp = response_logprobs(ref, batch["prompt"], batch["response"], 0.7)
    logp, values, ref_logp = logp.cpu(), values.cpu(), ref_logp.cpu()
    raw = reward_sum_of_ids(None, batch["response"], batch["mask"]).cpu()
    adv_hand = {}
    for b in range(12):
        L = lengths[b]
        ended = bool((batch["response"][b, :L] == EOS).any())
        s = float(raw[b]) - (0.0 if ended else 2.5)
        assert abs(float(batch["score"][b]) - s) < 1e-6
        scale = 1.0 if length_ref is None else length_ref / L  # a line pays β·L_ref·mean_t kl_t
        rew = [-0.37 * scale * (float(logp[b, t]) - float(ref_logp[b, t])) + (s if t == L - 1 else 0.0)
               for t in range(L)]
        running = 0.0
        for t in reversed(range(L)):
            v_next = float(values[b, t + 1]) if t + 1 < L else 0.0
            running = rew[t] + v_next - float(values[b, t]) + 0.9 * running
            adv_hand[(b, t)] = running
            assert abs(float(batch["returns"][b, t]) - (running + float(values[b, t]))) < 1e-4
    real = torch.tensor(list(adv_hand.values()), dtype=torch.float64)
    mean, std = float(real.mean()), float(real.std(correction=0))
    for (b, t), a in adv_hand.items():
        assert abs(float(batch["advantages"][b, t]) - (a - mean) / (std + 1e-8)) < 1e-4
    assert (batch["advantages"][~batch["mask"]] == 0).all()


def test_kl_length_ref_is_checked():
    with pytest.raises(ValueError, match="kl_length_ref"):
        LMPPOConfig(kl_length_ref=0.0)
    assert LMPPOConfig().kl_length_ref is None  # the standard Σ_t β·kl_t by default


@pytest.mark.parametrize("method", ["grpo", "rloo"])
def test_group_batch_wiring_by_hand(device, method):
    """Groups = the k responses to one prompt; GRPO standardises the score in the group; RLOO uses
    s − β Σ_t k1 and the leave-one-out mean. guards: `repeat` instead of `repeat_interleave`, a wrong β."""
    policy, ref = _two_models(device)
    G, k = 4, 3
    cfg = GroupConfig(method=method, num_prompts=G, group_size=k, max_new_tokens=6, temperature=0.7, kl_coef=0.37)
    tr = GroupTrainer(policy, ref, reward_sum_of_ids, cfg, eos_id=EOS, device=device, seed=0)
    prompts = torch.tensor([[0, 1, 2], [3, 3, 3], [4, 0, 4], [2, 2, 0]])  # distinct prompts
    batch = tr.make_batch(prompts)
    with torch.no_grad():
        ref_logp = response_logprobs(ref, batch["prompt"], batch["response"], 0.7, batch["mask"])
        logp = response_logprobs(policy, batch["prompt"], batch["response"], 0.7, batch["mask"])
    R = batch["score"].cpu().double()
    if method == "rloo":
        R = R - 0.37 * (logp - ref_logp).sum(1).cpu().double()
    for g_ in range(G):
        members = [i for i in range(G * k) if torch.equal(batch["prompt"][i].cpu(), prompts[g_])]
        assert len(members) == k, "every prompt answered exactly k times"
        vals = [float(R[i]) for i in members]
        mean = sum(vals) / k
        std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (k - 1))
        for i, v in zip(members, vals):
            others = (sum(vals) - v) / (k - 1)
            want = (v - mean) / (std + 1e-4) if method == "grpo" else v - others
            assert abs(float(batch["advantages"][i]) - want) < 1e-4, (g_, i)
    assert torch.equal(batch["prompt"][:k].cpu(), prompts[:1].expand(k, -1)), "group members are adjacent"


# ----------------------------------------------------------------------------- logged per update, adaptive β

@pytest.mark.parametrize("method", ["ppo", "grpo", "rloo"])
def test_every_trainer_logs_entropy_kl_and_truncation(device, method):
    policy, ref = _two_models(device)
    prompts = torch.randint(0, 5, (20, 3), generator=torch.Generator().manual_seed(0))
    if method == "ppo":
        tr = LMPPOTrainer(policy, ref, reward_sum_of_ids, LMPPOConfig(batch_size=8, max_new_tokens=6), eos_id=EOS,
                          device=device, seed=0)
    else:
        tr = GroupTrainer(policy, ref, reward_sum_of_ids, GroupConfig(method=method, num_prompts=2, group_size=4,
                                                                      max_new_tokens=6), eos_id=EOS, device=device, seed=0)
    snapshot = copy.deepcopy(policy)
    gen_state = tr.generator.get_state()
    h = tr.train(prompts, 2)
    for key in ("entropy", "kl", "kl_k3", "truncated_fraction", "kl_coef"):
        assert len(h[key]) == 2 and all(math.isfinite(v) for v in h[key]), key
    # the first update's entropy, by hand: the sampling policy's full distributions at the sampled positions
    tr.generator.set_state(gen_state)
    from lmrl_course.rlhf import sample_prompts
    p = sample_prompts(prompts, tr.prompts_per_update, tr.generator)
    if method != "ppo":
        p = p.repeat_interleave(4, 0)
    ro = sample_responses(snapshot, p.to(device), 6, 0.7, EOS, 0, tr.generator)
    with torch.no_grad():
        lp = torch.log_softmax(response_logits(snapshot, ro.prompt, ro.response) / 0.7, -1)
    ent = -(lp.exp() * lp).sum(-1)[ro.mask]
    assert abs(float(ent.mean()) - h["entropy"][0]) < 1e-4
    assert abs(float(ro.truncated.float().mean()) - h["truncated_fraction"][0]) < 1e-9


def test_adaptive_kl_controller_by_hand_and_in_a_trainer(device):
    ctl = AdaptiveKLController(0.1, target=2.0, horizon=100)
    assert abs(ctl.update(3.0, 10) - 0.1 * (1 + 0.2 * 0.1)) < 1e-12  # error clipped to +0.2
    assert abs(ctl.update(1.8, 10) - 0.1 * 1.02 * (1 - 0.1 * 0.1)) < 1e-12  # error −0.1
    policy, ref = _two_models(device)
    prompts = torch.randint(0, 5, (20, 3), generator=torch.Generator().manual_seed(0))
    cfg = LMPPOConfig(batch_size=8, max_new_tokens=6, kl_coef=0.1, kl_target=1e-3, kl_horizon=40)
    tr = LMPPOTrainer(policy, ref, reward_sum_of_ids, cfg, eos_id=EOS, device=device, seed=0)
    h = tr.train(prompts, 4)
    assert h["kl_coef"][0] == 0.1
    for i in range(3):  # each batch's KL moves the next batch's β, by the rule above with K = 8/40
        e = min(max(h["kl"][i] / 1e-3 - 1, -0.2), 0.2)
        assert abs(h["kl_coef"][i + 1] - h["kl_coef"][i] * (1 + e * 8 / 40)) < 1e-9
    assert len(set(h["kl_coef"])) > 1, "β must move"


# ----------------------------------------------------------------------------- exercise references vs hand loops

def _cases(name):
    return get_exercise(name).make_cases()


def test_exercise_references_match_hand_loops():
    for case in _cases("bradley_terry_loss"):
        rc, rr = case.args
        hand = sum(math.log1p(math.exp(-(float(c) - float(r)))) if float(c) - float(r) > -30
                   else -(float(c) - float(r)) for c, r in zip(rc.tolist(), rr.tolist())) / len(rc)
        assert abs(float(get_exercise("bradley_terry_loss").reference(rc, rr)) - hand) < 1e-5, case.description
    for case in _cases("rlhf_rewards"):
        score, logp, ref_logp, mask, beta = case.args
        got = get_exercise("rlhf_rewards").reference(score, logp, ref_logp, mask, beta)
        for b in range(mask.shape[0]):
            L = int(mask[b].sum())
            for t in range(mask.shape[1]):
                want = 0.0 if t >= L else -beta * float(logp[b, t] - ref_logp[b, t]) + (float(score[b]) if t == L - 1 else 0)
                assert abs(float(got[b, t]) - want) < 1e-5, case.description
    for case in _cases("group_advantages"):
        (r,) = case.args
        got = get_exercise("group_advantages").reference(r)
        for g in range(r.shape[0]):
            row = [float(v) for v in r[g]]
            mean = sum(row) / len(row)
            std = math.sqrt(sum((v - mean) ** 2 for v in row) / (len(row) - 1))
            for i, v in enumerate(row):
                assert abs(float(got[g, i]) - (v - mean) / (std + 1e-4)) < 1e-4, case.description
    for case in _cases("rloo_advantages"):
        (r,) = case.args
        got = get_exercise("rloo_advantages").reference(r)
        for g in range(r.shape[0]):
            row = [float(v) for v in r[g]]
            for i, v in enumerate(row):
                others = row[:i] + row[i + 1:]
                assert abs(float(got[g, i]) - (v - sum(others) / len(others))) < 1e-5, case.description
    for case in _cases("k3_estimator"):
        logp, ref_logp = case.args
        got = get_exercise("k3_estimator").reference(logp, ref_logp)
        for x, lp, lq in zip(got.flatten().tolist(), logp.flatten().tolist(), ref_logp.flatten().tolist()):
            rho = math.exp(lq - lp)
            assert abs(x - (rho - 1 - (lq - lp))) < 1e-6 * max(1.0, abs(x)), case.description
    for case in _cases("dpo_loss"):
        pc, pr, rc, rr, beta = case.args
        hand = 0.0
        for a, b, c, d in zip(pc.tolist(), pr.tolist(), rc.tolist(), rr.tolist()):
            h = beta * ((a - c) - (b - d))
            hand += math.log1p(math.exp(-h)) if h > -30 else -h
        assert abs(float(get_exercise("dpo_loss").reference(pc, pr, rc, rr, beta)) - hand / len(pc)) < 1e-5, case.description

    for case in _cases("sequence_logprob"):
        logp, mask = case.args
        got = get_exercise("sequence_logprob").reference(logp, mask)
        for b in range(mask.shape[0]):
            hand = sum(float(logp[b, t]) for t in range(mask.shape[1]) if bool(mask[b, t]))
            assert abs(float(got[b]) - hand) < 1e-5, case.description

def test_rm_agreement_by_hand():
    from lmrl_course.rlhf.results import rm_agreement, value_at
    gold = torch.tensor([0.1, 0.5, 0.3, 0.32])
    rm = torch.tensor([0.0, 1.0, 2.0, -1.0])
    pairs = [(i, j) for i in range(4) for j in range(4) if float(gold[i] - gold[j]) >= 0.1]
    want = sum(float(rm[i]) > float(rm[j]) for i, j in pairs) / len(pairs)
    assert len(pairs) == 5 and abs(rm_agreement(rm, gold, 0.1) - want) < 1e-6
    assert value_at([0.0, 1.0, 3.0], [0.0, 10.0, 30.0], 2.0) == 20.0
    assert value_at([0.0, 1.0], [0.0, 1.0], 5.0) != value_at([0.0, 1.0], [0.0, 1.0], 5.0)  # nan: never reached
