"""Precompute the RLHF runs that are too slow to repeat live in notebooks 08 and 09.

    python -m lmrl_course.scripts.make_rlhf_assets [--checkpoint assets/gpt_shakespeare.pt] [--only sweep|compare]

Writes (small JSON files, a few tens of kB):

- ``assets/rlhf_beta_sweep.json`` (notebook 08): RLHF-PPO against the Bradley–Terry reward model for several
  KL coefficients β, β = 0 included (reward hacking), 40 updates at twice the live run's learning rate:
  per-update reward-model score, annotator score and KL; a held-out evaluation and sample lines at the end.
- ``assets/rlhf_method_comparison.json`` (notebook 09): PPO, GRPO and RLOO on the same task (the annotator's
  rule as the reward), the same number of responses per update, with their wall-clock times.

Every run uses the same recipe as the notebooks (``lmrl_course.rlhf.tasks``), the seeds below, one thread.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import platform
import time
from pathlib import Path

import torch

from ..data import load_text
from ..device import seed_everything, set_determinism
from ..lm_trainer import load_checkpoint
from ..paths import ASSETS_DIR, GPT_CHECKPOINT_PATH
from ..rlhf import (GroupConfig, GroupTrainer, VowelAnnotator, LMPPOConfig, LMPPOTrainer, annotator_reward_fn,
                    decode_responses, evaluate_policy, reward_model_fn)
from ..rlhf.tasks import (GROUP_RECIPE, MAX_NEW_TOKENS, PPO_RECIPE, RULE_PPO_RECIPE, TEMPERATURE, build_course_reward_model,
                          rule_reward_stats, shakespeare_prompts)

BETAS = (0.0, 0.02, 0.05, 0.1, 0.2)
SWEEP_UPDATES = 40
SWEEP_LR = 2e-4          # twice the live run's, so that 40 updates show where each β leads
COMPARE_UPDATES = 30
N_EVAL = 128


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _round(xs, nd=4):
    return [None if x != x else round(float(x), nd) for x in xs]


def _eval(policy, ref, prompts, reward_fn, gold_fn, eos, tok):
    ev = evaluate_policy(policy, ref, prompts, reward_fn, MAX_NEW_TOKENS, TEMPERATURE, eos, seed=1)
    ro = ev["rollout"]
    gold = float(gold_fn(ro.prompt, ro.response, ro.mask).mean())
    texts = decode_responses(tok, ro.response[:6], ro.mask[:6], strip_eos=eos)
    return {"score": round(ev["score"], 4), "gold": round(gold, 4), "kl": round(ev["kl"], 4),
            "length": round(ev["length"], 2), "samples": texts}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=GPT_CHECKPOINT_PATH)
    parser.add_argument("--out-dir", type=Path, default=ASSETS_DIR)
    parser.add_argument("--only", choices=["sweep", "compare"], default=None)
    parser.add_argument("--updates", type=int, default=None, help="override the number of updates (quick tests)")
    args = parser.parse_args(argv)
    set_determinism(threads=1)
    seed_everything(0)
    gpt, tok, _ = load_checkpoint(args.checkpoint, device="cpu")
    text = load_text()
    train_prompts, test_prompts = shakespeare_prompts(text, tok)
    eos = tok.stoi["\n"]
    annotator = VowelAnnotator()
    gold_fn = annotator_reward_fn(annotator, tok, eos)
    eval_prompts = test_prompts[:N_EVAL]
    meta = {"checkpoint": args.checkpoint.name, "checkpoint_sha256_16": _sha(args.checkpoint),
            "torch": torch.__version__.split("+")[0], "machine": platform.machine(), "threads": 1,
            "made_by": "python -m lmrl_course.scripts.make_rlhf_assets"}

    if args.only in (None, "sweep"):
        t0 = time.perf_counter()
        rm, rm_info = build_course_reward_model(gpt, tok, text, progress=True)
        reward_fn = reward_model_fn(rm)
        runs = []
        n_up = args.updates or SWEEP_UPDATES
        for beta in BETAS:
            policy, ref = copy.deepcopy(gpt), copy.deepcopy(gpt)
            cfg = LMPPOConfig(**{**PPO_RECIPE, "kl_coef": beta, "lr": SWEEP_LR})
            tr = LMPPOTrainer(policy, ref, reward_fn, cfg, eos_id=eos, seed=0, gold_fn=gold_fn)
            h = tr.train(train_prompts, n_up, progress=True)
            runs.append({"kl_coef": beta, "history": {k: _round(h[k]) for k in ("update", "score", "gold", "kl", "length")},
                         "final": _eval(policy, ref, eval_prompts, reward_fn, gold_fn, eos, tok)})
            print(f"beta={beta}: {runs[-1]['final']}", flush=True)
        base = _eval(gpt, gpt, eval_prompts, reward_fn, gold_fn, eos, tok)
        out = {"what": "RLHF-PPO against the reward model for several KL coefficients (notebook 08)",
               **meta, "reward_model": rm_info, "ppo": {**PPO_RECIPE, "lr": SWEEP_LR, "updates": n_up}, "base": base, "runs": runs,
               "wall_s": round(time.perf_counter() - t0, 1)}
        (args.out_dir / "rlhf_beta_sweep.json").write_text(json.dumps(out, indent=1, ensure_ascii=False))

    if args.only in (None, "compare"):
        n_up = args.updates or COMPARE_UPDATES
        offset, scale = rule_reward_stats(text, annotator)
        rule_fn = annotator_reward_fn(annotator, tok, eos, offset, scale)
        runs = []
        for method in ("ppo", "grpo", "rloo"):
            policy, ref = copy.deepcopy(gpt), copy.deepcopy(gpt)
            if method == "ppo":
                tr = LMPPOTrainer(policy, ref, rule_fn, LMPPOConfig(**RULE_PPO_RECIPE), eos_id=eos, seed=0, gold_fn=gold_fn)
            else:
                tr = GroupTrainer(policy, ref, rule_fn, GroupConfig(method=method, **GROUP_RECIPE), eos_id=eos, seed=0,
                                  gold_fn=gold_fn)
            h = tr.train(train_prompts, n_up, progress=True)
            runs.append({"method": method,
                         "history": {k: _round(h[k]) for k in ("update", "score", "gold", "kl", "length", "time_s")},
                         "final": _eval(policy, ref, eval_prompts, rule_fn, gold_fn, eos, tok)})
            print(f"{method}: {runs[-1]['final']} in {h['time_s'][-1]:.1f} s", flush=True)
        base = _eval(gpt, gpt, eval_prompts, rule_fn, gold_fn, eos, tok)
        out = {"what": "PPO vs GRPO vs RLOO, annotator reward, same responses per update (notebook 09)", **meta,
               "reward_offset": offset, "reward_scale": scale, "base": base,
               "ppo": RULE_PPO_RECIPE, "group": GROUP_RECIPE, "updates": n_up, "runs": runs}
        (args.out_dir / "rlhf_method_comparison.json").write_text(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
