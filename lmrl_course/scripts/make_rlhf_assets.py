"""Precompute the RLHF runs that are too slow to repeat live in notebooks 08, 09 and 10.

    python -m lmrl_course.scripts.make_rlhf_assets [--only sweep|compare] [--seeds 0 1 2] [--updates N]

Writes (small JSON files; each is rewritten after every finished run, so a long job can be watched):

- ``assets/rlhf_beta_sweep.json`` (notebook 08): RLHF-PPO against the Bradley–Terry reward model for several
  KL coefficients β, β = 0 included, 40 updates at twice the live run's learning rate: per-update proxy
  (reward-model) score, gold (annotator) score, KL, length, truncated fraction; a held-out evaluation at the
  end, with the reward model's agreement with the annotator on the trained policy's own samples.
- ``assets/rlhf_method_comparison.json`` (notebooks 09 and 10): PPO, GRPO, RLOO (30 updates of 32 responses),
  DPO (one epoch over the same preference pairs the reward model learned from) and best-of-n (n = 1..32),
  all judged by the same reward model and annotator, several seeds each, with wall times.

Every run uses the recipe of the notebooks (``lmrl_course.rlhf.tasks``), one thread, and the seeds given.
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
from ..rlhf import (GroupConfig, GroupTrainer, LMPPOConfig, LMPPOTrainer, VowelAnnotator, annotator_reward_fn,
                    best_of_n, best_of_n_kl, decode_responses, evaluate_policy, response_logprobs, reward_model_fn,
                    train_dpo)
from ..rlhf.kl import kl_k1
from ..rlhf.results import rm_agreement
from ..rlhf.tasks import (DPO_RECIPE, GROUP_RECIPE, MAX_NEW_TOKENS, MISSING_EOS_PENALTY, PPO_RECIPE, TEMPERATURE,
                          build_course_reward_model, shakespeare_prompts)

BETAS = (0.0, 0.01, 0.02, 0.05, 0.1)
SWEEP_UPDATES = 40
SWEEP_LR = 2e-4          # twice the live run's, so that 40 updates show where each β leads
COMPARE_UPDATES = 30
BON_NS = (1, 2, 4, 8, 16, 32)
N_EVAL = 128             # held-out prompts of every final evaluation
N_EVAL_DPO = 64          # held-out prompts of DPO's evaluations along training
DPO_EVAL_EVERY = 5       # DPO steps between two evaluations
HISTORY = ("update", "score", "gold", "kl", "length", "truncated", "entropy", "kl_coef", "time_s")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _round(xs, nd=4):
    return [None if x != x else round(float(x), nd) for x in xs]


class Judge:
    """Scores a set of responses the same way for every method: proxy (reward model), gold (annotator), KL."""

    def __init__(self, gpt, rm, tok, eos, margin):
        self.ref, self.rm_fn, self.tok, self.eos, self.margin = gpt, reward_model_fn(rm), tok, eos, margin
        self.gold_fn = annotator_reward_fn(VowelAnnotator(), tok, eos)

    @torch.no_grad()
    def rollout(self, policy, ro, kl=None) -> dict:
        if kl is None:
            logp = response_logprobs(policy, ro.prompt, ro.response, TEMPERATURE, ro.mask)
            ref_logp = response_logprobs(self.ref, ro.prompt, ro.response, TEMPERATURE, ro.mask)
            kl = float(kl_k1(logp, ref_logp, ro.mask).sum(1).mean())
        score = self.rm_fn(ro.prompt, ro.response, ro.mask).float()
        gold = self.gold_fn(ro.prompt, ro.response, ro.mask).float()
        return {"score": round(float(score.mean()), 4), "gold": round(float(gold.mean()), 4), "kl": round(kl, 4),
                "length": round(float(ro.mask.sum(1).float().mean()), 2),
                "truncated": round(float(ro.truncated.float().mean()), 4),
                "rm_agreement": round(rm_agreement(score, gold, self.margin), 4),
                "samples": decode_responses(self.tok, ro.response[:6], ro.mask[:6], strip_eos=self.eos)}

    def policy(self, policy, prompts, seed=1) -> dict:
        ev = evaluate_policy(policy, self.ref, prompts, self.rm_fn, MAX_NEW_TOKENS, TEMPERATURE, self.eos, seed=seed)
        return self.rollout(policy, ev["rollout"], ev["kl"])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=GPT_CHECKPOINT_PATH)
    parser.add_argument("--out-dir", type=Path, default=ASSETS_DIR)
    parser.add_argument("--only", choices=["sweep", "compare"], default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sweep-seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--updates", type=int, default=None, help="override the number of updates (quick tests)")
    args = parser.parse_args(argv)
    set_determinism(threads=1)
    seed_everything(0)
    gpt, tok, _ = load_checkpoint(args.checkpoint, device="cpu")
    text = load_text()
    train_prompts, test_prompts = shakespeare_prompts(text, tok)
    eos = tok.stoi["\n"]
    annotator = VowelAnnotator()
    eval_prompts = test_prompts[:N_EVAL]
    meta = {"checkpoint": args.checkpoint.name, "checkpoint_sha256_16": _sha(args.checkpoint),
            "torch": torch.__version__.split("+")[0], "machine": platform.machine(), "threads": 1,
            "made_by": "python -m lmrl_course.scripts.make_rlhf_assets"}
    rm, rm_info, rm_train, _ = build_course_reward_model(gpt, tok, text, progress=True)
    judge = Judge(gpt, rm, tok, eos, annotator.margin)
    gold_fn, rm_fn = judge.gold_fn, judge.rm_fn
    base = judge.policy(gpt, eval_prompts)

    def ppo(kl_coef, lr, seed, n_up):
        policy, ref = copy.deepcopy(gpt), copy.deepcopy(gpt)
        cfg = LMPPOConfig(**{**PPO_RECIPE, "kl_coef": kl_coef, "lr": lr})
        tr = LMPPOTrainer(policy, ref, rm_fn, cfg, eos_id=eos, seed=seed, gold_fn=gold_fn)
        return policy, tr.train(train_prompts, n_up, progress=True)

    if args.only in (None, "sweep"):
        t0 = time.perf_counter()
        n_up = args.updates or SWEEP_UPDATES
        out = {"what": "RLHF-PPO against the reward model for several KL coefficients (notebook 08)", **meta,
               "reward_model": rm_info, "ppo": {**PPO_RECIPE, "lr": SWEEP_LR, "updates": n_up}, "base": base, "runs": []}
        for beta in BETAS:
            for seed in args.sweep_seeds:
                policy, h = ppo(beta, SWEEP_LR, seed, n_up)
                out["runs"].append({"kl_coef": beta, "seed": seed, "history": {k: _round(h[k]) for k in HISTORY},
                                    "final": judge.policy(policy, eval_prompts)})
                print(f"beta={beta} seed={seed}: {out['runs'][-1]['final']}", flush=True)
                out["wall_s"] = round(time.perf_counter() - t0, 1)
                (args.out_dir / "rlhf_beta_sweep.json").write_text(json.dumps(out, indent=1, ensure_ascii=False))

    if args.only in (None, "compare"):
        n_up = args.updates or COMPARE_UPDATES
        out = {"what": "PPO, GRPO, RLOO, DPO and best-of-n against the same reward model (notebooks 09, 10)", **meta,
               "reward_model": rm_info, "missing_eos_penalty": MISSING_EOS_PENALTY, "base": base, "ppo": PPO_RECIPE,
               "group": GROUP_RECIPE, "dpo": DPO_RECIPE, "updates": n_up, "seeds": args.seeds, "runs": [],
               "best_of_n": [], "dpo_runs": []}
        path = args.out_dir / "rlhf_method_comparison.json"
        for seed in args.seeds:
            for method in ("ppo", "grpo", "rloo"):
                if method == "ppo":
                    policy, h = ppo(PPO_RECIPE["kl_coef"], PPO_RECIPE["lr"], seed, n_up)
                else:
                    policy, ref = copy.deepcopy(gpt), copy.deepcopy(gpt)
                    tr = GroupTrainer(policy, ref, rm_fn, GroupConfig(method=method, **GROUP_RECIPE), eos_id=eos,
                                      seed=seed, gold_fn=gold_fn)
                    h = tr.train(train_prompts, n_up, progress=True)
                out["runs"].append({"method": method, "seed": seed, "history": {k: _round(h[k]) for k in HISTORY},
                                    "update_s": round(h["time_s"][-1] / len(h["time_s"]), 3),
                                    "final": judge.policy(policy, eval_prompts)})
                print(f"{method} seed={seed}: {out['runs'][-1]['final']} in {h['time_s'][-1]:.1f} s", flush=True)
                path.write_text(json.dumps(out, indent=1, ensure_ascii=False))
            # DPO on the reward model's own training pairs, evaluated along the way
            policy, ref = copy.deepcopy(gpt), copy.deepcopy(gpt)
            evals, clock = [], {"t": 0.0, "t0": time.perf_counter()}

            def measure(step, policy=policy, evals=evals, clock=clock, seed=seed):
                clock["t"] += time.perf_counter() - clock["t0"]  # training time only
                ev = judge.policy(policy, test_prompts[:N_EVAL_DPO], seed=100 + step)
                evals.append({"step": step, "time_s": round(clock["t"], 2),
                              **{k: ev[k] for k in ("score", "gold", "kl", "length", "truncated")}})
                clock["t0"] = time.perf_counter()

            r = {**DPO_RECIPE, "seed": seed}
            h = train_dpo(policy, ref, rm_train, beta=r["beta"], lr=r["lr"], epochs=r["epochs"],
                          batch_size=r["batch_size"], temperature=TEMPERATURE, seed=seed, progress=True,
                          callback=measure, callback_every=DPO_EVAL_EVERY)
            out["dpo_runs"].append({"method": "dpo", "seed": seed, "evals": evals,
                                    "history": {k: _round(v) for k, v in h.items()},
                                    "step_s": round(evals[-1]["time_s"] / h["step"][-1], 3),
                                    "final": judge.policy(policy, eval_prompts)})
            print(f"dpo seed={seed}: {out['dpo_runs'][-1]['final']}", flush=True)
            # best-of-n from the base policy, the same reward model, the missing-EOS penalty as in training
            for n in BON_NS:
                gen = torch.Generator().manual_seed(1000 + seed)
                t0 = time.perf_counter()
                ro, _ = best_of_n(gpt, eval_prompts, rm_fn, n, MAX_NEW_TOKENS, TEMPERATURE, eos, 0, gen,
                                  MISSING_EOS_PENALTY)
                ev = judge.rollout(gpt, ro, kl=best_of_n_kl(n))
                out["best_of_n"].append({"n": n, "seed": seed, "wall_s": round(time.perf_counter() - t0, 2), **ev})
            print(f"best-of-n seed={seed}: {[(b['n'], b['gold']) for b in out['best_of_n'][-len(BON_NS):]]}", flush=True)
            path.write_text(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
