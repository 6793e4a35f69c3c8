"""Pilot for issue 13 (its rule is now the course's: ``lmrl_course.rlhf.tasks.course_annotator``) (not an asset, nothing in the notebooks reads it): the course's vowel taste with one change,
vowels count only inside words of the play, so that an invented word ("I ae you") is letters without vowels.

Why: in ``assets/rlhf_beta_sweep.json`` the annotator itself rewards non-words at β = 0, so the gold score cannot
show over-optimisation. The reward model is trained on pairs of lines of the play, where every word is a word of
the play, so its labels, its training and every PPO trajectory are exactly the course's (same seeds); only the
gold column changes. The pilot measures (a) whether the gold score then peaks and falls while the proxy climbs,
and (b) whether the lines still shorten (they do: the length question is not settled by this change).

    PYTHONPATH=$PWD .venv/bin/python bench/pilot_rlhf_play_words.py --betas 0.05 0.0 --seeds 0 1 \\
        --out bench/results/rlhf_play_words_pilot.json

About 25 s for the reward model and 50 s per PPO run (30 updates) on one thread of this 2-core machine.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from lmrl_course.data import load_text
from lmrl_course.device import seed_everything, set_determinism
from lmrl_course.lm_trainer import load_checkpoint
from lmrl_course.paths import GPT_CHECKPOINT_PATH
from lmrl_course.rlhf import VowelAnnotator, course_annotator
from lmrl_course.rlhf.tasks import build_course_reward_model, shakespeare_prompts
from lmrl_course.scripts.make_rlhf_assets import N_EVAL, Judge, ppo_run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--betas", type=float, nargs="+", default=[0.05, 0.0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--updates", type=int, default=30)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    set_determinism(threads=1)
    seed_everything(0)
    gpt, tok, _ = load_checkpoint(GPT_CHECKPOINT_PATH, device="cpu")
    text = load_text()
    ann = course_annotator(text)   # the pilot's rule, now the course's
    for t in ("I ae you", "I am you", "We won you", "Ye ood so."):
        print(f"{t!r}: play-words gold {ann.score(t):.3f} | all vowels counted {VowelAnnotator().score(t):.3f}")
    train_prompts, test_prompts = shakespeare_prompts(text, tok)
    eos = tok.stoi["\n"]
    t0 = time.perf_counter()
    rm, info, _, _ = build_course_reward_model(gpt, tok, text, annotator=ann)
    print(f"reward model on the play-words labels: {info} ({time.perf_counter() - t0:.0f} s)", flush=True)
    judge = Judge(gpt, rm, tok, eos, ann)
    res = {"what": "pilot: vowels counted only inside words of the play (issue 13); not read by any notebook",
           "command": "bench/pilot_rlhf_play_words.py " + " ".join(
               [f"--betas {' '.join(map(str, args.betas))}", f"--seeds {' '.join(map(str, args.seeds))}"]),
           "annotator": repr(ann),
           "reward_model": info, "base": judge.policy(gpt, test_prompts[:N_EVAL]), "runs": []}
    print("base:", res["base"], flush=True)
    for beta in args.betas:
        for seed in args.seeds:
            _, _, rec = ppo_run(gpt, judge, train_prompts, test_prompts[:N_EVAL], eos, seed, args.updates, kl_coef=beta)
            h = rec["history"]
            g = h["gold"]
            peak = max(range(len(g)), key=g.__getitem__)
            print(f"β {beta} seed {seed}: gold peaks at {g[peak]:.3f} (update {peak + 1}), ends {g[-1]:.3f} | proxy "
                  f"{h['score'][peak]:+.2f} at the peak, {h['score'][-1]:+.2f} at the end | KL {h['kl'][peak]:.1f} → "
                  f"{h['kl'][-1]:.1f} | length {h['length'][0]:.1f} → {h['length'][-1]:.1f}")
            print("   held out:", rec["final"], flush=True)
            res["runs"].append(rec)
            if args.out:
                args.out.write_text(json.dumps(res, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
