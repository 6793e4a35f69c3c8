"""train_dpo's wiring against a hand-written DPO step: sequence log-probs from a plain loop over tokens (one
forward pass per token, the prompt and the response so far), the loss from its formula −log σ(h), torch's
own Adam and gradient clipping. A tiny random GPT (no training) and a few hand-made pairs with padding, so
this file runs in seconds. Each test was seen failing under the mutation named in its ``guards:`` comment.
"""
import copy

import pytest
import torch
import torch.nn.functional as F

from lmrl_course.gpt import GPT, GPTConfig
from lmrl_course.rlhf import train_dpo
from lmrl_course.rlhf.reward_model import PreferenceData

TAU = 0.7
PAD_ID = 3          # a real token id: padding positions must be ignored because of the mask, not the id


def tiny_gpt(seed):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=5, block_size=12, n_layer=1, n_head=2, n_embd=16)).eval()


def policy_and_ref():
    """π_ref random; π_θ = π_ref plus noise, so that h ≠ 0 at the first step (β and the order of a pair matter)."""
    ref = tiny_gpt(0)
    policy = copy.deepcopy(ref)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    return policy, ref


def hand_pairs(M=6, P=3, N=5):
    """M pairs of random responses of random lengths 1..N (padding holds PAD_ID), each with its prompt."""
    g = torch.Generator().manual_seed(2)

    def responses():
        ids = torch.randint(0, 5, (M, N), generator=g)
        lengths = torch.randint(1, N + 1, (M,), generator=g)
        mask = torch.arange(N)[None, :] < lengths[:, None]  # (M, N)
        return ids.masked_fill(~mask, PAD_ID), mask

    chosen, cm = responses()
    rejected, rm = responses()
    assert (~cm).any() and (~rm).any() and (cm.sum(1) != rm.sum(1)).any(), "the test needs padding and unequal lengths"
    prompts = torch.randint(0, 5, (M, P), generator=g)
    return PreferenceData(chosen, cm, rejected, rm, prompts=prompts)


def token_loop(model, prompt, response, mask):
    """Per real token t: (log π(y_t | x, y_<t), H(π(· | x, y_<t))) at τ, each from its own forward pass."""
    logps, ents = [], []
    for t in range(int(mask.sum())):  # real tokens come first
        idx = torch.cat([prompt, response[:t]])[None, :]  # (1, P + t)
        logits, _ = model(idx)
        lp = torch.log_softmax(logits[0, -1] / TAU, dim=-1)  # (V,)
        logps.append(lp[response[t]])
        ents.append(-(lp.exp() * lp).sum())
    return logps, ents


def hand_stats(policy, ref, data, rows, beta):
    """The DPO loss −mean log σ(h) over ``rows`` by the hand loop, and the history's entropy and KL figures."""
    h, k1, k3, ents = [], [], [], []
    for i in rows:
        seq = {}
        for side, resp, mask in (("c", data.chosen[i], data.chosen_mask[i]), ("r", data.rejected[i], data.rejected_mask[i])):
            lp, ent = token_loop(policy, data.prompts[i], resp, mask)
            with torch.no_grad():
                lp_ref, _ = token_loop(ref, data.prompts[i], resp, mask)
            seq[side] = sum(lp) - sum(lp_ref)
            k1.append(float(seq[side].detach()))
            k3.append(sum(float(torch.exp(b - a.detach()) - 1 - (b - a.detach())) for a, b in zip(lp, lp_ref)))
            ents += [float(e.detach()) for e in ent]
        h.append(beta * (seq["c"] - seq["r"]))
    loss = -torch.stack([F.logsigmoid(x) for x in h]).mean()
    return loss, {"entropy": sum(ents) / len(ents), "kl": sum(k1) / len(k1), "kl_k3": sum(k3) / len(k3)}


def hand_training(policy, ref, data, beta, lr, batch_size, order, max_grad_norm=1.0):
    """Adam over the minibatches of ``order``: the per-step losses and figures, the last step's clipped gradients."""
    opt = torch.optim.Adam(policy.parameters(), lr=lr)
    losses, stats = [], []
    policy.train()
    for i in range(0, len(order), batch_size):
        loss, st = hand_stats(policy, ref, data, order[i:i + batch_size], beta)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), max_grad_norm)
        opt.step()
        losses.append(float(loss.detach()))
        stats.append(st)
    policy.eval()
    return losses, stats, [p.grad.clone() for p in policy.parameters()]


@pytest.mark.parametrize("beta", [0.1, 2.0])
def test_one_dpo_step_equals_a_hand_step(beta):
    """One step over all pairs (the shuffle cannot matter): loss, entropy, KL, clipped gradients and the
    parameters after Adam's step equal the hand-written step, parameter by parameter.
    guards: β dropped from h; chosen and rejected swapped; π_ref's log-probs at τ = 1; padding counted;
    the entropy or KL figures over the wrong tokens or with the wrong estimator."""
    data = hand_pairs()
    policy, ref = policy_and_ref()
    init, mine, mine_ref = copy.deepcopy(policy), copy.deepcopy(policy), copy.deepcopy(ref)
    hist = train_dpo(policy, ref, data, beta=beta, lr=1e-2, batch_size=len(data), temperature=TAU, seed=0)
    losses, stats, grads = hand_training(mine, mine_ref, data, beta, 1e-2, len(data), list(range(len(data))))

    assert hist["step"] == [1]
    assert hist["loss"][0] == pytest.approx(losses[0], rel=1e-5, abs=1e-6)
    for k in ("entropy", "kl", "kl_k3"):
        assert hist[k][0] == pytest.approx(stats[0][k], rel=1e-4, abs=1e-5), k
    n_live = n_all = 0
    for (name, p), q, g in zip(policy.named_parameters(), mine.parameters(), grads):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-6, msg=f"gradient of {name}")
        # Adam's first step is lr·g/(|g| + ε): where g is 0 in exact arithmetic (the attention's key bias), its
        # rounding noise decides the sign, so the parameters are compared where the gradient is not noise
        live = g.abs() > 1e-5
        torch.testing.assert_close(p[live], q[live], rtol=1e-5, atol=1e-6, msg=f"{name} after the step")
        n_live, n_all = n_live + int(live.sum()), n_all + g.numel()
    assert n_live > 0.9 * n_all

    # the checks above can tell the alternatives apart on these pairs
    swapped = PreferenceData(data.rejected, data.rejected_mask, data.chosen, data.chosen_mask, prompts=data.prompts)
    loss_swapped, _ = hand_stats(init, mine_ref, swapped, range(len(data)), beta)
    loss_beta1, _ = hand_stats(init, mine_ref, data, range(len(data)), 1.0)
    assert abs(float(loss_swapped.detach()) - losses[0]) > 1e-2 and abs(float(loss_beta1.detach()) - losses[0]) > 1e-2


def test_dpo_minibatches_pair_prompt_chosen_rejected_and_reference():
    """Three steps of two pairs, in train_dpo's shuffled order: every step's loss and figures, and the final
    parameters, equal hand-written training; π_ref stays as it was and gets no gradient.
    guards: a minibatch's reference log-probs not indexed like its pairs (ref_c[i:i+b]); prompts not shuffled
    with their responses; π_ref's log-probs recomputed from the current policy; π_ref trained."""
    data = hand_pairs()
    policy, ref = policy_and_ref()
    ref_before = copy.deepcopy(ref.state_dict())
    mine, mine_ref = copy.deepcopy(policy), copy.deepcopy(ref)
    seed = 5
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed)).tolist()  # train_dpo's shuffle
    assert order != sorted(order), "the test needs a shuffle that is not the identity"
    hist = train_dpo(policy, ref, data, beta=0.5, lr=1e-2, batch_size=2, temperature=TAU, seed=seed)
    losses, stats, _ = hand_training(mine, mine_ref, data, 0.5, 1e-2, 2, order)

    assert hist["step"] == [1, 2, 3]
    assert hist["loss"] == pytest.approx(losses, rel=1e-4, abs=1e-5)
    for k in ("entropy", "kl", "kl_k3"):
        assert hist[k] == pytest.approx([s[k] for s in stats], rel=1e-4, abs=1e-5), k
    for (name, p), q in zip(policy.named_parameters(), mine.parameters()):
        if name.endswith("c_attn.bias"):  # its key part has gradient 0 up to rounding, which Adam amplifies
            p, q = p[:16], q[:16]         # the query bias only (n_embd = 16)
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5, msg=f"{name} after three steps")
    for name, v in ref.state_dict().items():
        assert torch.equal(v, ref_before[name]), f"π_ref's {name} changed"
    assert all(p.grad is None for p in ref.parameters()), "π_ref received gradients"
    # the policy did move, and the figures moved with it: the KL figures start away from 0 (π_θ ≠ π_ref)
    assert any(not torch.equal(p, q) for p, q in zip(policy.parameters(), ref.parameters()))
    assert len(set(hist["kl"])) == 3 and all(v > 0 for v in hist["kl_k3"])


def test_dpo_history_at_the_reference_is_log2_with_zero_kl():
    """π_θ = π_ref before the first step: loss log 2, margin 0, k1 and k3 sums exactly 0, entropy > 0."""
    data = hand_pairs()
    ref = tiny_gpt(0)
    hist = train_dpo(copy.deepcopy(ref), ref, data, beta=0.3, lr=1e-3, batch_size=len(data), temperature=TAU)
    assert hist["loss"][0] == pytest.approx(0.6931472, abs=1e-6)
    assert hist["margin"][0] == pytest.approx(0.0, abs=1e-6)
    assert hist["kl"][0] == pytest.approx(0.0, abs=1e-6) and hist["kl_k3"][0] == pytest.approx(0.0, abs=1e-9)
    assert 0 < hist["entropy"][0] < torch.log(torch.tensor(5.0))
