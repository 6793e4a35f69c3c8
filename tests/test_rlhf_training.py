"""End-to-end RLHF on a toy "play" (lines of words from a list of ten): a small GPT pretrained here in
seconds, the cheerful annotator liking "love" and "joy".

- the reward model reaches >= 90% held-out accuracy on the annotator's labels;
- PPO, GRPO and RLOO raise the annotator's mean score on held-out prompts by a clear margin while the
  KL to the reference stays under the chosen budget.
"""
import copy

import pytest
import torch

from lmrl_course.data import CharTokenizer
from lmrl_course.gpt import GPT, GPTConfig
from lmrl_course.lm_trainer import TrainConfig, train_lm
from lmrl_course.rlhf import (GroupConfig, GroupTrainer, KeywordAnnotator, LMPPOConfig, LMPPOTrainer, RewardModel,
                              annotator_reward_fn, evaluate_policy, line_prompts, make_preference_data,
                              preference_accuracy, reward_model_fn, train_reward_model)
from lmrl_course.rlhf.tasks import toy_corpus

N_NEW, TAU, KL_BUDGET = 20, 1.0, 8.0


@pytest.fixture(scope="module")
def toy():
    text = toy_corpus(3000, seed=0)
    tok = CharTokenizer.from_text(text)
    ids = torch.tensor(tok.encode(text))
    torch.manual_seed(0)
    # init_std=0.02: the init these thresholds were set with (the package default became 1/sqrt(fan_in))
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=1, n_head=2, n_embd=48, init_std=0.02))
    train_lm(model, ids[:-2000], ids[-2000:], TrainConfig(max_iters=250, batch_size=32, block_size=32,
             learning_rate=5e-3, warmup_iters=20, eval_interval=0, eval_iters=2), progress=False)
    prompts = line_prompts(text, tok, 8, min_line=3)
    return {"tok": tok, "model": model.eval(), "eos": tok.stoi["\n"], "train": prompts[:2500], "test": prompts[2500:2756],
            "annotator": KeywordAnnotator(["love", "joy"])}


def test_reward_model_reaches_90_percent_held_out_accuracy(toy, device):
    gen = torch.Generator().manual_seed(0)
    model = toy["model"].to(device)
    data = make_preference_data(model, toy["train"][:1200].to(device), toy["tok"], toy["annotator"], N_NEW, TAU,
                                toy["eos"], 0, gen)
    train, held_out = data.split(len(data) - 150)
    assert len(train) > 300
    rm = RewardModel(model).to(device)
    train_reward_model(rm, train, epochs=3, batch_size=32, lr=2e-3, seed=0)
    acc = preference_accuracy(rm, held_out)
    assert acc >= 0.90, f"held-out accuracy {acc:.3f}"
    # the trained reward model is a usable reward: over all held-out responses (chosen and rejected mixed),
    # it orders every two of different annotator score the way the annotator does, ≥ 90 % of the time
    resp = torch.cat([held_out.chosen, held_out.rejected])
    mask = torch.cat([held_out.chosen_mask, held_out.rejected_mask])
    rm_scores = reward_model_fn(rm)(None, resp, mask).cpu()
    gold = toy["annotator"].scores(held_out.chosen_text + held_out.rejected_text)
    agree = total = 0
    for i in range(len(gold)):
        for j in range(len(gold)):
            if gold[i] > gold[j]:
                total += 1
                agree += bool(rm_scores[i] > rm_scores[j])
    assert total > 1000 and agree / total >= 0.90, (agree, total)


@pytest.mark.parametrize("method", ["ppo", "grpo", "rloo"])
def test_fine_tuning_raises_held_out_reward_within_kl_budget(toy, device, method):
    ref = copy.deepcopy(toy["model"]).to(device)
    policy = copy.deepcopy(ref)
    reward_fn = annotator_reward_fn(toy["annotator"], toy["tok"], toy["eos"])
    kw = dict(max_new_tokens=N_NEW, temperature=TAU, kl_coef=0.2, lr=5e-4)
    if method == "ppo":
        trainer = LMPPOTrainer(policy, ref, reward_fn, LMPPOConfig(batch_size=32, **kw), eos_id=toy["eos"],
                               device=device, seed=0)
    else:
        trainer = GroupTrainer(policy, ref, reward_fn, GroupConfig(method=method, num_prompts=8, group_size=4, **kw),
                               eos_id=toy["eos"], device=device, seed=0)
    test_prompts = toy["test"].to(device)
    before = evaluate_policy(ref, ref, test_prompts, reward_fn, N_NEW, TAU, toy["eos"], seed=1)
    trainer.train(toy["train"], 15)
    after = evaluate_policy(policy, ref, test_prompts, reward_fn, N_NEW, TAU, toy["eos"], seed=1)
    assert before["kl"] == 0.0
    assert after["score"] > before["score"] + 1.0, (before["score"], after["score"])
    assert 0.0 < after["kl"] < KL_BUDGET, after["kl"]


@pytest.mark.slow
def test_course_reward_model_on_the_shipped_gpt_reaches_90_percent():
    """Notebook 08's recipe on the shipped Shakespeare GPT (needs assets/gpt_shakespeare.pt; ~20 s on one core)."""
    from lmrl_course.data import load_text
    from lmrl_course.gpt import load_pretrained
    from lmrl_course.rlhf.tasks import build_course_reward_model

    gpt, tok = load_pretrained(device="cpu")
    rm, info, _, _ = build_course_reward_model(gpt, tok, load_text())
    assert info["test_pairs"] >= 200
    assert info["test_accuracy"] >= 0.90, info
