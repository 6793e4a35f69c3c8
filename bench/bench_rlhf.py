"""Speed of the RLHF capstone (prints only, never fails).

    python bench/bench_rlhf.py [--checkpoint PATH] [--device cpu|cuda] [--updates 30] [--target 0.45] [--kl-budget 10]

1. One update of LM-PPO, GRPO and RLOO on the shipped GPT (32 responses of up to 64 characters, 2 epochs ×
   2 minibatches), one DPO step (32 pairs) and best-of-16 for 32 prompts: wall time, and generation speed
   in tokens/s (KV-cached sampling), on the CPU with one thread and on CUDA when available. Generation with
   the KV cache is compared with ``GPT.generate`` (no cache).
2. Time to reach a given batch-mean annotator score (the reward is that score in standard units) while the
   KL to the reference stays within a budget, for PPO vs GRPO vs RLOO (the comparison's recipes).
"""
from __future__ import annotations

import argparse
import copy
import os
import platform
import time

import torch

from lmrl_course.data import load_text
from lmrl_course.device import available_devices, cpu_name, set_determinism, synchronize
from lmrl_course.lm_trainer import load_checkpoint
from lmrl_course.paths import GPT_CHECKPOINT_PATH
from lmrl_course.rlhf import (GroupConfig, GroupTrainer, LMPPOConfig, LMPPOTrainer, course_annotator,
                              annotator_reward_fn, best_of_n, sample_prompts, sample_responses, train_dpo)
from lmrl_course.rlhf.tasks import (DPO_RECIPE, GROUP_RECIPE, MAX_NEW_TOKENS, PPO_RECIPE, TEMPERATURE,
                                    course_preference_pairs, rule_reward_stats, shakespeare_prompts)


def make(method, gpt, reward_fn, eos, device, gold_fn=None):
    policy, ref = copy.deepcopy(gpt).to(device), copy.deepcopy(gpt).to(device)
    if method == "ppo":
        return LMPPOTrainer(policy, ref, reward_fn, LMPPOConfig(**PPO_RECIPE), eos_id=eos, device=device, seed=0,
                            gold_fn=gold_fn)
    return GroupTrainer(policy, ref, reward_fn, GroupConfig(method=method, **GROUP_RECIPE), eos_id=eos, device=device,
                        seed=0, gold_fn=gold_fn)


def bench_update(gpt, prompts, reward_fn, eos, device, pairs, repeats=3):
    print(f"\n== one update on {device} (32 responses, N ≤ {MAX_NEW_TOKENS}) ==")
    gen = torch.Generator().manual_seed(0)
    p = prompts[:32].to(device)
    model = copy.deepcopy(gpt).to(device)
    sample_responses(model, p, MAX_NEW_TOKENS, TEMPERATURE, eos, 0, gen)  # warm-up
    synchronize(device)
    t0 = time.perf_counter()
    ro = sample_responses(model, p, MAX_NEW_TOKENS, TEMPERATURE, None, 0, gen)
    synchronize(device)
    dt_cache = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.generate(p, MAX_NEW_TOKENS, temperature=TEMPERATURE, generator=gen)
    synchronize(device)
    dt_plain = time.perf_counter() - t0
    n = ro.num_tokens()
    print(f"sampling {n} tokens: KV cache {dt_cache:.2f} s ({n / dt_cache:,.0f} tokens/s) | "
          f"GPT.generate without cache {dt_plain:.2f} s ({n / dt_plain:,.0f} tokens/s)")
    for method in ("ppo", "grpo", "rloo"):
        tr = make(method, gpt, reward_fn, eos, device)
        n_p = 32 if method == "ppo" else GROUP_RECIPE["num_prompts"]
        tr.step(sample_prompts(prompts, n_p, tr.generator))  # warm-up
        times, rates = [], []
        for _ in range(repeats):
            synchronize(device)
            t0 = time.perf_counter()
            row = tr.step(sample_prompts(prompts, n_p, tr.generator))
            synchronize(device)
            times.append(time.perf_counter() - t0)
            rates.append(row["tokens_per_s"])
        print(f"{method.upper():4} update: {min(times):.2f} s (best of {repeats}) | generation {max(rates):,.0f} tokens/s")
    policy, ref = copy.deepcopy(gpt).to(device), copy.deepcopy(gpt).to(device)
    sub = pairs.split(32 * (repeats + 1))[0]
    t0 = time.perf_counter()
    train_dpo(policy, ref, sub, beta=DPO_RECIPE["beta"], lr=DPO_RECIPE["lr"], batch_size=32, temperature=TEMPERATURE)
    synchronize(device)
    print(f"DPO  step  : {(time.perf_counter() - t0) / (repeats + 1):.2f} s (mean of {repeats + 1}, incl. π_ref log-probs)")
    t0 = time.perf_counter()
    best_of_n(model, p, reward_fn, 16, MAX_NEW_TOKENS, TEMPERATURE, eos, 0, gen)
    synchronize(device)
    print(f"best-of-16 : {time.perf_counter() - t0:.2f} s for {p.shape[0]} prompts (best-of-n trains nothing: this is its whole cost)")


def time_to_target(gpt, prompts, reward_fn, gold_fn, eos, device, updates, target, kl_budget):
    print(f"\n== time to a batch-mean annotator score ≥ {target} with KL ≤ {kl_budget} nats per line "
          f"({device}, ≤ {updates} updates) ==")
    for method in ("ppo", "grpo", "rloo"):
        tr = make(method, gpt, reward_fn, eos, device, gold_fn)
        n_p = 32 if method == "ppo" else GROUP_RECIPE["num_prompts"]
        hit = None
        for u in range(updates):
            row = tr.step(sample_prompts(prompts, n_p, tr.generator))
            if hit is None and row["gold"] >= target and row["kl"] <= kl_budget:
                hit = (u + 1, row["time_s"], row["gold"], row["kl"])
                break
        h = tr.history
        if hit:
            print(f"{method.upper():4}: reached at update {hit[0]} after {hit[1]:.1f} s (score {hit[2]:.3f}, KL {hit[3]:.2f})")
        else:
            print(f"{method.upper():4}: not reached in {updates} updates ({h['time_s'][-1]:.1f} s); best score "
                  f"{max(h['gold']):.3f}, last KL {h['kl'][-1]:.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=str(GPT_CHECKPOINT_PATH))
    ap.add_argument("--device", default=None, help="one device (default: every available one)")
    ap.add_argument("--updates", type=int, default=30)
    ap.add_argument("--target", type=float, default=0.45)  # the base model's lines score ~0.38
    ap.add_argument("--kl-budget", type=float, default=10.0)
    ap.add_argument("--skip-target", action="store_true")
    args = ap.parse_args()
    set_determinism(threads=1)
    gpt, tok, _ = load_checkpoint(args.checkpoint, device="cpu")
    eos = tok.stoi["\n"]
    text = load_text()
    reward_fn = annotator_reward_fn(course_annotator(text), tok, eos, *rule_reward_stats(text))
    gold_fn = annotator_reward_fn(course_annotator(text), tok, eos)
    prompts, _ = shakespeare_prompts(text, tok)
    pairs, _ = course_preference_pairs(tok, text)
    devices = [torch.device(args.device)] if args.device else available_devices()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__} | {platform.machine()} {cpu_name()} | "
          f"{os.cpu_count()} cores, load average {load:.1f} | threads {torch.get_num_threads()} | "
          f"GPT {gpt.num_parameters():,} parameters")
    for dev in devices:
        bench_update(gpt, prompts, reward_fn, eos, dev, pairs)
    if not args.skip_target:
        for dev in devices:
            time_to_target(gpt, prompts, reward_fn, gold_fn, eos, dev, args.updates, args.target, args.kl_budget)


if __name__ == "__main__":
    main()
