"""RLHF building blocks against independent references: brute-force enumeration, hand loops, torch ops.

Small random GPTs (no training), so this file runs in seconds.
"""
import copy
import itertools
import math

import pytest
import torch

from lmrl_course.gpt import GPT, GPTConfig
from lmrl_course.rl.ppo import approx_kl_k3
from lmrl_course.data import CharTokenizer
from lmrl_course.rlhf import (VowelAnnotator, course_annotator, words_of, encode_responses, line_prompts, preference_data_from_texts, ActorCritic, GroupConfig, GroupTrainer, KeywordAnnotator, LMPPOConfig, LMPPOTrainer,
                              RewardModel, bradley_terry_loss, compute_rewards, exact_kl, group_advantages,
                              group_loss, kl_k1, kl_k3, lm_gae, lm_ppo_loss, masked_whiten, response_logprobs,
                              rloo_advantages, sample_responses)

EOS = 1


def tiny_gpt(seed, vocab=5, block=24, scale=1.0):
    torch.manual_seed(seed)
    m = GPT(GPTConfig(vocab_size=vocab, block_size=block, n_layer=1, n_head=2, n_embd=16))
    with torch.no_grad():
        m.transformer.wte.weight.mul_(scale)  # sharper, more distinct next-token distributions
    return m.eval()


def score_first_token(prompt, response, mask):
    """A toy reward: the id of the first response token, as a float."""
    return response[:, 0].float()


# ----------------------------------------------------------------------------- sampling

def test_logp_recomputed_from_stored_samples_equals_sampling_logp(device):
    model = tiny_gpt(0).to(device)
    prompt = torch.randint(0, 5, (16, 4), generator=torch.Generator().manual_seed(1)).to(device)
    for tau in (1.0, 0.7):
        ro = sample_responses(model, prompt, 10, tau, eos_id=EOS, pad_id=0, generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            ref = response_logprobs(model, ro.prompt, ro.response, tau, ro.mask)
        torch.testing.assert_close(ro.logp, ref, atol=1e-5, rtol=1e-5)
        # an independent reference: prefix by prefix, the full model, no cache
        for b in range(3):
            for t in range(int(ro.mask[b].sum())):
                idx = torch.cat([prompt[b], ro.response[b, :t]])[None]
                with torch.no_grad():
                    lp = torch.log_softmax(model(idx)[0][0, -1] / tau, -1)[ro.response[b, t]]
                assert abs(float(lp) - float(ro.logp[b, t])) < 1e-5


def test_mask_and_padding_structure(device):
    model = tiny_gpt(3, scale=3.0).to(device)
    prompt = torch.zeros(64, 3, dtype=torch.long, device=device)
    ro = sample_responses(model, prompt, 12, 1.0, eos_id=EOS, pad_id=4, generator=torch.Generator().manual_seed(0))
    resp, mask = ro.response.cpu(), ro.mask.cpu()
    assert mask[:, 0].all(), "the first token is always real"
    n_ended = 0
    for b in range(64):
        ids = resp[b].tolist()
        end = ids.index(EOS) + 1 if EOS in ids else 12
        assert mask[b].tolist() == [True] * end + [False] * (12 - end)
        assert all(i == 4 for i in ids[end:]), "positions after EOS hold the pad id"
        assert (ro.logp[b, end:] == 0).all()
        n_ended += end < 12
    assert n_ended > 5, "the test needs some responses that stop early"


def test_sampling_is_repeatable_and_follows_softmax(device):
    model = tiny_gpt(4, scale=2.0).to(device)
    prompt = torch.tensor([[2, 3, 0]] * 4000, device=device)
    a = sample_responses(model, prompt, 1, 0.7, generator=torch.Generator().manual_seed(5))
    b = sample_responses(model, prompt, 1, 0.7, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.response, b.response)
    with torch.no_grad():
        probs = torch.softmax(model(prompt[:1])[0][0, -1] / 0.7, -1).cpu()
    freq = torch.bincount(a.response[:, 0].cpu(), minlength=5).float() / 4000
    assert (freq - probs).abs().max() < 0.03


# ----------------------------------------------------------------------------- KL

def test_k3_nonnegative_per_token_and_matches_ppo_helper():
    g = torch.Generator().manual_seed(0)
    logp = -torch.rand(50, 7, generator=g) * 5
    ref = -torch.rand(50, 7, generator=g) * 5
    k3 = kl_k3(logp, ref)
    assert (k3 >= 0).all()
    assert torch.equal(kl_k3(logp, logp), torch.zeros_like(logp))
    torch.testing.assert_close(k3.mean(), approx_kl_k3(ref, logp))
    mask = torch.rand(50, 7, generator=g) > 0.3
    assert (kl_k3(logp, ref, mask)[~mask] == 0).all()


def _enumerate_responses(policy, ref, prompt, N, tau):
    """Every response of length N (no EOS), with log p under both models, from full-model forwards."""
    V = policy.config.vocab_size
    out = []
    for seq in itertools.product(range(V), repeat=N):
        lp = lq = 0.0
        kl_exact = 0.0
        for t in range(N):
            idx = torch.tensor([prompt + list(seq[:t])])
            with torch.no_grad():
                zp, zq = policy(idx)[0][0, -1], ref(idx)[0][0, -1]
            logp_t, logq_t = torch.log_softmax(zp / tau, -1), torch.log_softmax(zq / tau, -1)
            kl_exact += float((logp_t.exp() * (logp_t - logq_t)).sum())  # written out, not exact_kl
            lp += float(logp_t[seq[t]])
            lq += float(logq_t[seq[t]])
        out.append((seq, lp, lq, kl_exact))
    return out


def test_kl_estimates_match_brute_force_enumeration():
    V, N, tau = 3, 3, 0.8
    policy, ref = tiny_gpt(10, vocab=V, scale=4.0), tiny_gpt(11, vocab=V, scale=4.0)
    prompt = [0, 2]
    table = _enumerate_responses(policy, ref, prompt, N, tau)
    p = torch.tensor([math.exp(lp) for _, lp, _, _ in table], dtype=torch.float64)
    assert abs(float(p.sum()) - 1) < 1e-5
    kl_seq = sum(math.exp(lp) * (lp - lq) for _, lp, lq, _ in table)  # KL over whole responses
    assert kl_seq > 0.05, "the two models should differ"
    # chain rule: E_p[Σ_t KL_t(prefix)] = sequence KL
    assert abs(sum(math.exp(lp) * k for _, lp, _, k in table) - kl_seq) < 1e-5
    # the package's estimators, in exact expectation over all responses
    resp = torch.tensor([s for s, *_ in table])
    prom = torch.tensor([prompt] * len(table))
    with torch.no_grad():
        logp = response_logprobs(policy, prom, resp, tau)
        ref_logp = response_logprobs(ref, prom, resp, tau)
        per_pos = exact_kl(policy(torch.cat([prom, resp], 1)[:, :-1])[0][:, 1:], ref(torch.cat([prom, resp], 1)[:, :-1])[0][:, 1:], tau)
    pw = p.float()
    assert abs(float((pw * kl_k1(logp, ref_logp).sum(1)).sum()) - kl_seq) < 1e-4
    assert abs(float((pw * kl_k3(logp, ref_logp).sum(1)).sum()) - kl_seq) < 1e-4
    assert abs(float((pw * per_pos.sum(1)).sum()) - kl_seq) < 1e-4
    # and by Monte Carlo, with the sampler
    ro = sample_responses(policy, torch.tensor([prompt] * 20000), N, tau, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        rl = response_logprobs(ref, ro.prompt, ro.response, tau)
    for est in (kl_k1(ro.logp, rl).sum(1), kl_k3(ro.logp, rl).sum(1)):
        se = float(est.std()) / math.sqrt(len(est))
        assert abs(float(est.mean()) - kl_seq) < 4 * se + 1e-3


# ----------------------------------------------------------------------------- rewards, GAE, whitening

def test_total_reward_is_score_minus_beta_kl_with_score_at_last_real_token():
    g = torch.Generator().manual_seed(0)
    B, N, beta = 6, 7, 0.3
    lengths = [7, 1, 3, 5, 7, 2]
    mask = torch.tensor([[t < L for t in range(N)] for L in lengths])
    logp, ref = -torch.rand(B, N, generator=g), -torch.rand(B, N, generator=g)
    score = torch.randn(B, generator=g)
    rewards, kl = compute_rewards(score, logp, ref, mask, beta)
    for b, L in enumerate(lengths):
        for t in range(N):
            want = 0.0 if t >= L else -beta * float(logp[b, t] - ref[b, t]) + (float(score[b]) if t == L - 1 else 0.0)
            assert abs(float(rewards[b, t]) - want) < 1e-6
        total = float(score[b]) - beta * sum(float(logp[b, t] - ref[b, t]) for t in range(L))
        assert abs(float(rewards[b].sum()) - total) < 1e-5


def test_lm_gae_matches_hand_loop():
    g = torch.Generator().manual_seed(1)
    B, N = 5, 6
    lengths = [6, 2, 4, 1, 5]
    mask = torch.tensor([[t < L for t in range(N)] for L in lengths])
    rewards, values = torch.randn(B, N, generator=g), torch.randn(B, N, generator=g)
    for gamma, lam in ((1.0, 1.0), (1.0, 0.9), (0.95, 0.5)):
        adv, ret = lm_gae(rewards, values, mask, gamma, lam)
        for b, L in enumerate(lengths):
            running = 0.0
            for t in reversed(range(L)):
                v_next = float(values[b, t + 1]) if t + 1 < L else 0.0
                delta = float(rewards[b, t]) + gamma * v_next - float(values[b, t])
                running = delta + gamma * lam * running
                assert abs(float(adv[b, t]) - running) < 1e-5
                assert abs(float(ret[b, t]) - (running + float(values[b, t]))) < 1e-5
            if gamma == 1.0 and lam == 1.0:  # Monte-Carlo: Â_t = Σ_{t'≥t} r_t' − V_t
                for t in range(L):
                    assert abs(float(adv[b, t]) - (float(rewards[b, t:L].sum()) - float(values[b, t]))) < 1e-5
            assert (adv[b, L:] == 0).all() and (ret[b, L:] == 0).all()


def test_masked_whiten():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(4, 9, generator=g) * 3 + 2
    mask = torch.rand(4, 9, generator=g) > 0.4
    w = masked_whiten(x, mask)
    real = w[mask].double()
    assert abs(float(real.mean())) < 1e-5 and abs(float(real.std(correction=0)) - 1) < 1e-4
    assert (w[~mask] == 0).all()
    ref = (x[mask] - x[mask].mean()) / x[mask].std(correction=0)
    torch.testing.assert_close(w[mask], ref, atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------------- GRPO / RLOO advantages

def test_group_advantages_sum_to_zero_and_equal_rewards_give_zero():
    g = torch.Generator().manual_seed(3)
    r = torch.randn(6, 5, generator=g)
    r[2] = 0.7  # a group of equal rewards
    a = group_advantages(r)
    assert a.sum(1).abs().max() < 1e-5
    assert (a[2] == 0).all()
    ref = (r - r.mean(1, keepdim=True)) / (r.std(1, keepdim=True) + 1e-4)
    torch.testing.assert_close(a, ref)


def test_rloo_advantages_equal_brute_force_leave_one_out():
    g = torch.Generator().manual_seed(4)
    r = torch.randn(5, 4, generator=g, dtype=torch.float64)
    a = rloo_advantages(r)
    G, k = r.shape
    for i in range(G):
        for j in range(k):
            others = [float(r[i, m]) for m in range(k) if m != j]
            assert abs(float(a[i, j]) - (float(r[i, j]) - sum(others) / len(others))) < 1e-12
    torch.testing.assert_close(a, k / (k - 1) * (r - r.mean(1, keepdim=True)))
    with pytest.raises(ValueError, match="k=2"):
        rloo_advantages(torch.ones(3, 1))


# ----------------------------------------------------------------------------- padding never enters a loss

def _batch(device, B=6, P=3, N=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([8, 3, 1, 5, 8, 2][:B])
    mask = (torch.arange(N)[None] < lengths[:, None]).to(device)
    return {"prompt": torch.randint(0, 5, (B, P), generator=g).to(device),
            "response": torch.randint(0, 5, (B, N), generator=g).to(device), "mask": mask,
            "logp_old": (-torch.rand(B, N, generator=g)).to(device), "values_old": torch.randn(B, N, generator=g).to(device),
            "advantages": torch.randn(B, N, generator=g).to(device), "returns": torch.randn(B, N, generator=g).to(device),
            "ref_logp": (-torch.rand(B, N, generator=g)).to(device)}


def _perturb_padding(batch, seed=99):
    g = torch.Generator().manual_seed(seed)
    out = dict(batch)
    pad = ~batch["mask"]
    for k in ("logp_old", "values_old", "advantages", "returns", "ref_logp"):
        noise = (torch.randn(batch[k].shape, generator=g) * 100).to(batch[k].device)
        out[k] = torch.where(pad, noise, batch[k])
    rnd = torch.randint(0, 5, batch["response"].shape, generator=g).to(batch["response"].device)
    out["response"] = torch.where(pad, rnd, batch["response"])
    assert not torch.equal(out["response"], batch["response"])
    return out


def _loss_and_grads(fn, module, batch):
    module.zero_grad(set_to_none=True)
    loss, _ = fn(batch)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in module.parameters() if p.grad is not None]


def test_padding_never_enters_the_ppo_loss(device):
    model = ActorCritic(tiny_gpt(5)).to(device)
    with torch.no_grad():
        model.value_head.weight.normal_()
    cfg = LMPPOConfig(temperature=0.7, batch_size=6, num_minibatches=1)
    batch = _batch(device)
    l1, g1 = _loss_and_grads(lambda b: lm_ppo_loss(model, b, cfg), model, batch)
    l2, g2 = _loss_and_grads(lambda b: lm_ppo_loss(model, b, cfg), model, _perturb_padding(batch))
    torch.testing.assert_close(l1, l2, atol=1e-6, rtol=1e-6)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("method", ["grpo", "rloo"])
def test_padding_never_enters_the_group_loss(device, method):
    policy = tiny_gpt(6).to(device)
    cfg = GroupConfig(method=method, kl_coef=0.5)
    batch = _batch(device)
    batch["advantages"] = batch["advantages"][:, 0]  # one advantage per response
    l1, g1 = _loss_and_grads(lambda b: group_loss(policy, b, cfg), policy, batch)
    pert = _perturb_padding({**batch, "advantages": batch["returns"]})
    pert["advantages"] = batch["advantages"]
    l2, g2 = _loss_and_grads(lambda b: group_loss(policy, b, cfg), policy, pert)
    torch.testing.assert_close(l1, l2, atol=1e-6, rtol=1e-6)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


def test_padding_never_changes_the_reward_model_score(device):
    rm = RewardModel(tiny_gpt(7)).to(device)
    batch = _batch(device)
    s1 = rm(batch["response"], batch["mask"])
    s2 = rm(_perturb_padding(batch)["response"], batch["mask"])
    torch.testing.assert_close(s1, s2, atol=1e-6, rtol=1e-6)


# ----------------------------------------------------------------------------- step 0: policy = reference

def test_at_step_zero_kl_is_zero_and_ratio_is_one(device):
    ref = tiny_gpt(8, scale=2.0)
    prompts = torch.randint(0, 5, (40, 3), generator=torch.Generator().manual_seed(0))
    cfg = LMPPOConfig(batch_size=16, max_new_tokens=6, temperature=0.7, num_minibatches=2)
    tr = LMPPOTrainer(copy.deepcopy(ref), ref, score_first_token, cfg, eos_id=EOS, device=device, seed=0)
    batch = tr.make_batch(prompts[:16])
    assert torch.equal(batch["kl"], torch.zeros_like(batch["kl"]))
    assert float(kl_k3(batch["logp_old"], batch["ref_logp"], batch["mask"]).abs().max()) == 0.0
    stats = tr.update(batch)
    assert stats["ratio_dev_first"] < 1e-6
    for method in ("grpo", "rloo"):
        gt = GroupTrainer(copy.deepcopy(ref), ref, score_first_token,
                          GroupConfig(method=method, num_prompts=4, group_size=4, max_new_tokens=6),
                          eos_id=EOS, device=device, seed=0)
        gb = gt.make_batch(prompts[:4])
        assert torch.equal(gb["kl"], torch.zeros_like(gb["kl"]))
        assert gt.update(gb)["ratio_dev_first"] < 1e-6


def test_runs_are_repeatable(device):
    ref = tiny_gpt(9, scale=2.0)
    prompts = torch.randint(0, 5, (40, 3), generator=torch.Generator().manual_seed(0))
    cfg = LMPPOConfig(batch_size=8, max_new_tokens=5, lr=1e-3)
    runs = []
    for _ in range(2):
        tr = LMPPOTrainer(copy.deepcopy(ref), ref, score_first_token, cfg, eos_id=EOS, device=device, seed=3)
        h = tr.train(prompts, 3)
        runs.append((h["score"], h["kl"], h["policy_loss"]))
    assert runs[0] == runs[1]


# ----------------------------------------------------------------------------- annotator, BT loss, errors

def test_annotator_counts_whole_words_and_skips_ties():
    ann = KeywordAnnotator(["love", "joy"])
    assert ann.score("Love, lovely glove; LOVE and joy!") == 3.0
    assert ann.matches("joyful love's") == []  # neither 'joyful' nor "love's" is the word
    assert ann.prefer("my love", "my dog") == 0
    assert ann.prefer("dog", "joy") == 1
    assert ann.prefer("joy", "love") is None
    with pytest.raises(ValueError):
        KeywordAnnotator(["two words"])


def test_vowel_annotator_with_a_vocabulary_by_hand():
    """Vowels count only inside known words; every letter still counts as a letter (hand-worked)."""
    ann = VowelAnnotator(prior_letters=6, prior_share=0.37, vocabulary=["I", "you", "'tis"])
    # "I ae you": letters I a e y o u = 6; counted vowels: i (known), o u (known), not a e ("ae" unknown)
    assert ann.score("I ae you") == (3 + 6 * 0.37) / (6 + 6)
    assert VowelAnnotator().score("I ae you") == (5 + 6 * 0.37) / (6 + 6)     # without a vocabulary: all five
    assert ann.score("'Tis you!") == (3 + 6 * 0.37) / (6 + 6)                # 'tis looked up without its apostrophe
    assert ann.matches("you, YOU; yoU") == ["o", "u"] * 3                    # case does not matter
    assert ann.score("") == pytest.approx(0.37) and ann.score("xyz") == (0 + 6 * 0.37) / (3 + 6)
    assert "vocabulary=3 words" in repr(ann)
    assert words_of("'Tis the sea--sea! O'er you'") == ["tis", "the", "sea", "sea", "o'er", "you"]
    with pytest.raises(TypeError, match="iterable of words"):
        VowelAnnotator(vocabulary="you")
    with pytest.raises(ValueError, match="at least one word"):
        VowelAnnotator(vocabulary=["'", ""])
    with pytest.raises(TypeError, match="hold words"):
        VowelAnnotator(vocabulary=["you", 3])


def test_course_annotator_scores_the_plays_lines_like_the_plain_share():
    """On the play's own lines (and so on the reward model's pairs) the course's annotator is the plain vowel share;
    an invented word it does not reward."""
    from lmrl_course.data import load_text
    from lmrl_course.rlhf.tasks import play_lines

    text = load_text()
    ann, plain = course_annotator(text), VowelAnnotator()
    lines = play_lines(text)
    assert len(lines) > 10000
    assert ann.scores(lines).tolist() == plain.scores(lines).tolist()
    assert ann.score("I am you") == plain.score("I am you")
    assert ann.score("I ae you") < plain.score("I ae you")
    assert ann.score("I amooi no io in a ever in yoo") < ann.score("I am no one in a river in you")


def test_vowel_annotator_scores_by_hand():
    ann = VowelAnnotator(margin=0.05, prior_letters=4, prior_share=0.5)
    assert ann.score("Aeiou, bcd!") == (5 + 2) / (8 + 4)
    assert ann.score("tea") == (2 + 2) / (3 + 4)  # no cliff: a short line is shrunk towards 0.5, not zeroed
    assert ann.score("") == 0.5 and ann.score("!?") == 0.5
    # length-neutral in the limit: a long line scores its own share
    assert abs(VowelAnnotator(prior_letters=4).score("ab" * 500) - 0.5) < 1e-2
    assert ann.prefer("a sea of joy", "strength") == 0
    assert ann.prefer("abcdef", "abcdeg") is None  # equal shares
    tok = CharTokenizer.from_text("abcdefghijklmnopqrstuvwxyz \n")
    data = preference_data_from_texts(["a sea of joy", "xyzzy"], ["strength", "xyzzy"], tok, ann, 8, eos_id=tok.stoi["\n"],
                                      prompts=torch.tensor([[1, 2], [3, 4]]))
    assert len(data) == 1 and data.chosen_text == ["a sea of"] and data.rejected_text == ["strength"]
    assert data.prompts.tolist() == [[1, 2]]  # the kept pair keeps its prompt
    ids, mask = encode_responses(["ab", "abcdefghij"], tok, 4, eos_id=tok.stoi["\n"], pad_id=0)
    eos, (a, b, c, d) = tok.stoi["\n"], tok.encode("abcd")
    assert ids.tolist() == [[a, b, eos, 0], [a, b, c, d]]
    assert mask.tolist() == [[True, True, True, False], [True] * 4]


def test_line_prompts_end_at_a_verse_line():
    text = "ROMEO:\nBut soft, what light through yonder window breaks?\nJULIET:\nAy me!\nO Romeo, Romeo, wherefore art thou?\n"
    tok = CharTokenizer.from_text(text)
    prompts = line_prompts(text, tok, prompt_len=6)
    decoded = [tok.decode(p) for p in prompts]
    assert decoded == ["ROMEO:\n"[-6:], "Ay me!\n"[-6:]], decoded  # before 'But soft' and 'O Romeo'


def test_bradley_terry_loss_matches_formula():
    g = torch.Generator().manual_seed(0)
    rc, rr = torch.randn(20, generator=g, dtype=torch.float64) * 10, torch.randn(20, generator=g, dtype=torch.float64) * 10
    ref = -torch.log(torch.sigmoid(rc - rr)).mean()
    torch.testing.assert_close(bradley_terry_loss(rc, rr), ref)
    assert torch.isfinite(bradley_terry_loss(torch.tensor([-100.0]), torch.tensor([100.0])))


def test_clear_errors_on_bad_input():
    m = tiny_gpt(0)
    with pytest.raises(ValueError, match="block_size"):
        sample_responses(m, torch.zeros(2, 20, dtype=torch.long), 10)
    with pytest.raises(ValueError, match="temperature"):
        sample_responses(m, torch.zeros(2, 3, dtype=torch.long), 4, temperature=0.0)
    with pytest.raises(TypeError, match="integer"):
        sample_responses(m, torch.zeros(2, 3), 4)
    with pytest.raises(ValueError, match="eos_id"):
        sample_responses(m, torch.zeros(2, 3, dtype=torch.long), 4, eos_id=99)
    with pytest.raises(ValueError, match="group_size"):
        GroupConfig(group_size=1)
    with pytest.raises(ValueError, match="method"):
        GroupConfig(method="ppo")
    with pytest.raises(ValueError, match="at least one real token"):
        compute_rewards(torch.zeros(2), torch.zeros(2, 3), torch.zeros(2, 3),
                        torch.tensor([[True, False, False], [False, False, False]]), 0.1)
    with pytest.raises(ValueError, match="same object"):
        LMPPOTrainer(m, m, score_first_token)
