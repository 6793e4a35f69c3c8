"""Precompute the RLHF runs that are too slow to repeat live in notebooks 08, 09 and 10.

    python -m lmrl_course.scripts.make_rlhf_assets                  # everything: the three files below
    python -m lmrl_course.scripts.make_rlhf_assets --only sweep     # one file: rlhf_beta_sweep.json
    python -m lmrl_course.scripts.make_rlhf_assets --only compare   # rlhf_method_comparison.json
    python -m lmrl_course.scripts.make_rlhf_assets --only length    # rlhf_length.json, its pilot and klnorm runs included
    python -m lmrl_course.scripts.make_rlhf_assets --only klnorm    # only its length-normalised-KL runs (merged)
    python -m lmrl_course.scripts.make_rlhf_assets --only summary   # the comparison's summary, from its stored runs
    python -m lmrl_course.scripts.make_rlhf_assets --dry-run [...]  # print what would be run and written

With no options each command reproduces the stored file whole: the same β values and seeds (sweep: ``BETAS`` x
``SWEEP_SEEDS``; pilot: ``PILOT_BETAS`` x ``PILOT_SEEDS``; comparison: ``--seeds`` 0 1 2). Partial work: ``--betas``
and ``--sweep-seeds`` choose the sweep's (or, with ``--only pilot``, the pilot's) runs, and ``--append`` keeps the
stored sweep's other runs (add or replace runs without redoing the rest); ``--only pilot`` always merges its runs
into the stored length file. ``--updates`` overrides the number of updates (quick trials; not for the assets).

Writes (small JSON files; each is rewritten after every finished run, so a long job can be watched):

- ``assets/rlhf_beta_sweep.json`` (notebook 08): RLHF-PPO against the Bradley–Terry reward model for several
  KL coefficients β, β = 0 included, 40 updates at twice the live run's learning rate: per-update proxy
  (reward-model) score, gold (annotator) score, KL, length, truncated fraction; a held-out evaluation at the
  end, with the reward model's agreement with the annotator on the trained policy's own samples.
- ``assets/rlhf_method_comparison.json`` (notebooks 09 and 10): PPO, GRPO, RLOO (30 updates of 32 responses),
  DPO (one epoch over the same preference pairs the reward model learned from) and best-of-n (n = 1..32),
  all judged by the same reward model and annotator, several seeds each, with wall times; ``summary``: per method
  the final values (length and truncated fraction included) as mean ± std over seeds (``--only summary``
  recomputes it from the stored runs).
- ``assets/rlhf_length.json`` (notebook 08): the annotator's and the reward model's scores against the length
  of a line, and the same for the prototype length-neutral score (``LengthNeutralVowelAnnotator``), then the
  pilot: PPO runs against that score's reward model (``length_neutral.pilot_runs``); and ``kl_length_ref``: the
  comparison's PPO recipe (β = 0.05, 30 updates, seeds ``KLNORM_SEEDS``) with the KL charged per token on average,
  ``LMPPOConfig(kl_length_ref=KL_LENGTH_REF)``, against the course's reward model (an intervention on the summed KL).

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
from ..rlhf import (GroupConfig, GroupTrainer, LMPPOConfig, LMPPOTrainer, annotator_reward_fn,
                    best_of_n, best_of_n_kl, decode_responses, evaluate_policy, response_logprobs, reward_model_fn,
                    train_dpo)
from ..rlhf.kl import kl_k1
from ..rlhf.results import binned_means, correlation, mean_std, method_summary, rm_agreement
from ..rlhf.reward_model import encode_responses
from ..rlhf.rollout import sample_responses
from ..rlhf.tasks import (DPO_RECIPE, GROUP_RECIPE, MAX_NEW_TOKENS, MISSING_EOS_PENALTY, PPO_RECIPE, TEMPERATURE,
                          VAL_FRACTION, build_course_reward_model, course_annotator, length_neutral_annotator,
                          reference_lines,
                          shakespeare_prompts)

BETAS = (0.0, 0.01, 0.02, 0.05, 0.1)   # the sweep's KL coefficients
SWEEP_SEEDS = (0, 1, 2)
PILOT_BETAS = (0.05, 0.0)               # the length-neutral pilot's
PILOT_SEEDS = (0,)
KLNORM_SEEDS = (0, 1, 2)                # the length-normalised-KL runs (the comparison's PPO seeds)
KL_LENGTH_REF = 38.0                    # L: ≈ the base model's mean line length (characters = tokens)
COMPARE_SEEDS = (0, 1, 2)
SWEEP_UPDATES = 40
SWEEP_LR = 2e-4          # twice the live run's, so that 40 updates show where each β leads
COMPARE_UPDATES = 30
BON_NS = (1, 2, 4, 8, 16, 32)
N_EVAL = 128             # held-out prompts of every final evaluation
N_EVAL_DPO = 64          # held-out prompts of DPO's evaluations along training
DPO_EVAL_EVERY = 5       # DPO steps between two evaluations
HISTORY = ("update", "score", "gold", "kl", "length", "truncated_fraction", "entropy", "kl_coef", "time_s")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _round(xs, nd=4):
    return [None if x != x else round(float(x), nd) for x in xs]


class Judge:
    """Scores a set of responses the same way for every method: proxy (reward model), gold (``annotator``), KL."""

    def __init__(self, gpt, rm, tok, eos, annotator):
        self.ref, self.rm_fn, self.tok, self.eos, self.margin = gpt, reward_model_fn(rm), tok, eos, annotator.margin
        self.gold_fn = annotator_reward_fn(annotator, tok, eos)

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
                "truncated_fraction": round(float(ro.truncated.float().mean()), 4),
                "rm_agreement": round(rm_agreement(score, gold, self.margin), 4),
                "samples": decode_responses(self.tok, ro.response[:6], ro.mask[:6], strip_eos=self.eos)}

    def policy(self, policy, prompts, seed=1) -> dict:
        ev = evaluate_policy(policy, self.ref, prompts, self.rm_fn, MAX_NEW_TOKENS, TEMPERATURE, self.eos, seed=seed)
        return self.rollout(policy, ev["rollout"], ev["kl"])


def ppo_run(gpt, judge, train_prompts, eval_prompts, eos: int, seed: int, updates: int, **overrides) -> tuple:
    """One RLHF-PPO run from the base model ``gpt``: ``PPO_RECIPE`` with ``overrides`` (e.g. ``kl_coef``, ``lr``,
    ``kl_length_ref``), trained for ``updates`` updates against ``judge``'s reward model (its annotator as the gold
    score). Returns ``(policy, history, record)``; ``record`` is what the assets keep of a run: kl_coef, seed,
    updates, lr, the history's ``HISTORY`` columns, the held-out evaluation ``final`` and ``wall_s``."""
    t0 = time.perf_counter()
    policy, ref = copy.deepcopy(gpt), copy.deepcopy(gpt)
    cfg = LMPPOConfig(**{**PPO_RECIPE, **overrides})
    h = LMPPOTrainer(policy, ref, judge.rm_fn, cfg, eos_id=eos, seed=seed, gold_fn=judge.gold_fn).train(
        train_prompts, updates, progress=True)
    record = {"kl_coef": cfg.kl_coef, "seed": seed, "updates": updates, "lr": cfg.lr,
              "history": {k: _round(h[k]) for k in HISTORY}, "final": judge.policy(policy, eval_prompts),
              "wall_s": round(time.perf_counter() - t0, 1)}
    return policy, h, record


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=GPT_CHECKPOINT_PATH)
    parser.add_argument("--out-dir", type=Path, default=ASSETS_DIR)
    parser.add_argument("--only", choices=["sweep", "compare", "length", "pilot", "klnorm", "summary"], default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(COMPARE_SEEDS), help="the comparison's seeds")
    parser.add_argument("--sweep-seeds", type=int, nargs="+", default=None,
                        help=f"the sweep's seeds (default {list(SWEEP_SEEDS)}; with --only pilot, the pilot's: "
                             f"{list(PILOT_SEEDS)})")
    parser.add_argument("--betas", type=float, nargs="+", default=None,
                        help=f"the sweep's KL coefficients (default {list(BETAS)}; with --only pilot, the pilot's: "
                             f"{list(PILOT_BETAS)})")
    parser.add_argument("--append", action="store_true",
                        help="keep the sweep's stored runs and add (or replace) the (β, seed) runs asked for")
    parser.add_argument("--updates", type=int, default=None, help="override the number of updates (quick tests)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan (tasks, runs, files) and stop")
    return parser.parse_args(argv)


def plan(args: argparse.Namespace) -> list:
    """The tasks a command line runs, in order, each ``{"task", "path", ...}`` with the (β, seed) runs it makes.

    ``--betas`` / ``--sweep-seeds`` apply to the sweep, or to the pilot when it runs alone (``--only pilot``);
    otherwise each task uses its own defaults, so that a plain ``--only X`` (or no ``--only``) rewrites its file
    with every run it holds today."""
    out, d = [], args.out_dir
    if args.only in (None, "length", "pilot"):
        if args.only != "pilot":
            out.append({"task": "length", "path": d / "rlhf_length.json"})
        alone = args.only == "pilot"
        betas = args.betas if alone and args.betas else list(PILOT_BETAS)
        seeds = args.sweep_seeds if alone and args.sweep_seeds else list(PILOT_SEEDS)
        out.append({"task": "pilot", "path": d / "rlhf_length.json", "runs": [(b, s) for b in betas for s in seeds],
                    "updates": args.updates or COMPARE_UPDATES, "merge": True})
    if args.only in (None, "length", "klnorm"):
        out.append({"task": "klnorm", "path": d / "rlhf_length.json", "length_ref": KL_LENGTH_REF,
                    "runs": [(PPO_RECIPE["kl_coef"], s) for s in KLNORM_SEEDS],
                    "updates": args.updates or COMPARE_UPDATES, "merge": True})
    if args.only in (None, "sweep"):
        betas, seeds = args.betas or list(BETAS), args.sweep_seeds or list(SWEEP_SEEDS)
        out.append({"task": "sweep", "path": d / "rlhf_beta_sweep.json", "runs": [(b, s) for b in betas for s in seeds],
                    "updates": args.updates or SWEEP_UPDATES, "append": args.append})
    if args.only in (None, "compare"):
        out.append({"task": "compare", "path": d / "rlhf_method_comparison.json", "seeds": list(args.seeds),
                    "updates": args.updates or COMPARE_UPDATES})
    if args.only in (None, "compare", "summary"):
        out.append({"task": "summary", "path": d / "rlhf_method_comparison.json"})
    return out


def main(argv=None) -> None:
    args = parse_args(argv)
    steps = plan(args)
    if args.dry_run:
        for st in steps:
            print(" ".join(f"{k}={v}" for k, v in st.items()))
        return
    tasks = {st["task"]: st for st in steps}
    if args.only == "summary":
        write_summary(tasks["summary"]["path"])
        return
    set_determinism(threads=1)
    seed_everything(0)
    gpt, tok, _ = load_checkpoint(args.checkpoint, device="cpu")
    text = load_text()
    train_prompts, test_prompts = shakespeare_prompts(text, tok)
    eos = tok.stoi["\n"]
    annotator = course_annotator(text)
    eval_prompts = test_prompts[:N_EVAL]
    meta = {"checkpoint": args.checkpoint.name, "checkpoint_sha256_16": _sha(args.checkpoint),
            "torch": torch.__version__.split("+")[0], "machine": platform.machine(), "threads": 1,
            "made_by": "python -m lmrl_course.scripts.make_rlhf_assets"}
    rm, rm_info, rm_train, _ = build_course_reward_model(gpt, tok, text, progress=True)
    judge = Judge(gpt, rm, tok, eos, annotator)
    gold_fn, rm_fn = judge.gold_fn, judge.rm_fn
    base = judge.policy(gpt, eval_prompts)

    def ppo(seed, n_up, **overrides):  # against the course's reward model and annotator
        return ppo_run(gpt, judge, train_prompts, eval_prompts, eos, seed, n_up, **overrides)

    if "length" in tasks:
        length_study(gpt, tok, text, rm, rm_info, rm_train, test_prompts, meta, tasks["length"]["path"])

    if "pilot" in tasks:   # a trial of the length-neutral score, stored in rlhf_length.json
        neutral_pilot(gpt, tok, text, train_prompts, eval_prompts, tasks["pilot"])

    if "klnorm" in tasks:  # the comparison's PPO with the KL charged per token on average, in rlhf_length.json
        task = tasks["klnorm"]
        out = json.loads(task["path"].read_text())
        runs = out.get("kl_length_ref", {}).get("runs", [])
        for beta, seed in task["runs"]:
            _, _, run = ppo(seed, task["updates"], kl_coef=beta, kl_length_ref=task["length_ref"])
            runs = sorted([r for r in runs if (r["kl_coef"], r["seed"]) != (beta, seed)] + [run], key=lambda r: r["seed"])
            out["kl_length_ref"] = {"length_ref": task["length_ref"], "reward_model": rm_info, "runs": runs}
            task["path"].write_text(json.dumps(out, indent=1, ensure_ascii=False))
            print(f"klnorm beta={beta} seed={seed}: {run['final']}", flush=True)

    if "sweep" in tasks:
        t0 = time.perf_counter()
        n_up, path = tasks["sweep"]["updates"], tasks["sweep"]["path"]
        out = {"what": "RLHF-PPO against the reward model for several KL coefficients (notebook 08)", **meta,
               "reward_model": rm_info, "ppo": {**PPO_RECIPE, "lr": SWEEP_LR, "updates": n_up}, "base": base, "runs": []}
        if tasks["sweep"]["append"] and path.exists():
            old = json.loads(path.read_text())
            if old["reward_model"] != rm_info or old["ppo"]["updates"] != n_up:
                raise SystemExit("--append: the stored sweep has another reward model or number of updates")
            out["runs"], t0 = old["runs"], t0 - old.get("wall_s", 0.0)  # wall_s: all invocations together
        for beta, seed in tasks["sweep"]["runs"]:
            _, _, run = ppo(seed, n_up, kl_coef=beta, lr=SWEEP_LR)
            out["runs"] = [r for r in out["runs"] if (r["kl_coef"], r["seed"]) != (beta, seed)] + [run]
            out["runs"].sort(key=lambda r: (r["seed"], r["kl_coef"]))  # seed 0 first: its β in order
            print(f"beta={beta} seed={seed}: {run['final']}", flush=True)
            out["wall_s"] = round(time.perf_counter() - t0, 1)
            path.write_text(json.dumps(out, indent=1, ensure_ascii=False))

    if "compare" in tasks:
        n_up, seeds, path = tasks["compare"]["updates"], tasks["compare"]["seeds"], tasks["compare"]["path"]
        out = {"what": "PPO, GRPO, RLOO, DPO and best-of-n against the same reward model (notebooks 09, 10)", **meta,
               "reward_model": rm_info, "missing_eos_penalty": MISSING_EOS_PENALTY, "base": base, "ppo": PPO_RECIPE,
               "group": GROUP_RECIPE, "dpo": DPO_RECIPE, "updates": n_up, "seeds": seeds, "runs": [],
               "best_of_n": [], "dpo_runs": []}
        for seed in seeds:
            for method in ("ppo", "grpo", "rloo"):
                final = None
                if method == "ppo":
                    policy, h, rec = ppo(seed, n_up)
                    final = rec["final"]  # ppo_run's held-out evaluation (not done twice)
                else:
                    policy, ref = copy.deepcopy(gpt), copy.deepcopy(gpt)
                    tr = GroupTrainer(policy, ref, rm_fn, GroupConfig(method=method, **GROUP_RECIPE), eos_id=eos,
                                      seed=seed, gold_fn=gold_fn)
                    h = tr.train(train_prompts, n_up, progress=True)
                out["runs"].append({"method": method, "seed": seed, "history": {k: _round(h[k]) for k in HISTORY},
                                    "update_s": round(h["time_s"][-1] / len(h["time_s"]), 3),
                                    "final": final or judge.policy(policy, eval_prompts)})
                print(f"{method} seed={seed}: {out['runs'][-1]['final']} in {h['time_s'][-1]:.1f} s", flush=True)
                path.write_text(json.dumps(out, indent=1, ensure_ascii=False))
            # DPO on the reward model's own training pairs, evaluated along the way
            policy, ref = copy.deepcopy(gpt), copy.deepcopy(gpt)
            evals, clock = [], {"t": 0.0, "t0": time.perf_counter()}

            def measure(step, policy=policy, evals=evals, clock=clock, seed=seed):
                clock["t"] += time.perf_counter() - clock["t0"]  # training time only
                ev = judge.policy(policy, test_prompts[:N_EVAL_DPO], seed=100 + step)
                evals.append({"step": step, "time_s": round(clock["t"], 2),
                              **{k: ev[k] for k in ("score", "gold", "kl", "length", "truncated_fraction")}})
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
    if "summary" in tasks:
        write_summary(tasks["summary"]["path"])


def write_summary(path: Path) -> None:
    """Adds ``summary`` (per method: final values as [mean, std] over seeds, wall time per update) to the
    comparison file, from the runs it holds (no training)."""
    out = json.loads(path.read_text())
    out["summary"] = {m: {k: (_round(v) if isinstance(v, list) else v) for k, v in row.items()}
                      for m, row in method_summary(out).items()}
    path.write_text(json.dumps(out, indent=1, ensure_ascii=False))
    for m, row in out["summary"].items():
        print(m, " ".join(f"{k} {v[0]}±{v[1]}" for k, v in row.items() if isinstance(v, list)))


LENGTH_EDGES = (0, 10, 20, 30, 40, 50, 65)
N_LENGTH = 512           # base-model lines of the length study


def length_study(gpt, tok, text, rm, rm_info, rm_train, test_prompts, meta, path: Path) -> None:
    """Does the taste, or the reward model, favour a length? Scores against length on the base model's own
    lines and on lines of the play; whole lines against their first two words; the labels' lengths; and the
    prototype length-neutral score (its reward model's held-out accuracy, its scores against length)."""
    t0 = time.perf_counter()
    eos = tok.stoi["\n"]
    gen = torch.Generator().manual_seed(2)
    ro = sample_responses(gpt, test_prompts[:N_LENGTH], MAX_NEW_TOKENS, TEMPERATURE, eos, 0, gen)
    base_texts = decode_responses(tok, ro.response, ro.mask, strip_eos=eos)
    held_lines = reference_lines(text[int(len(text) * (1.0 - VAL_FRACTION)):], 2000, seed=1)

    def rm_scores(model, texts):
        ids, mask = encode_responses(texts, tok, MAX_NEW_TOKENS, eos)
        with torch.no_grad():
            return torch.cat([model(ids[i:i + 256], mask[i:i + 256]) for i in range(0, len(texts), 256)]).tolist()

    def study(annotator, model, train_pairs):
        out = {}
        for name, texts in (("base", base_texts), ("play", held_lines)):
            n = [len(t) for t in texts]
            gold, proxy = annotator.scores(texts).tolist(), rm_scores(model, texts)
            out[name] = {"n": len(texts), "corr_length_gold": round(correlation(n, gold), 4),
                         "corr_length_proxy": round(correlation(n, proxy), 4),
                         "corr_gold_proxy": round(correlation(gold, proxy), 4),
                         "gold_by_length": _bins(binned_means(n, gold, LENGTH_EDGES)),
                         "proxy_by_length": _bins(binned_means(n, proxy, LENGTH_EDGES)),
                         "gold_q90_by_length": _q90(n, gold), "proxy_q90_by_length": _q90(n, proxy)}
            if name == "base":
                out[name].update(length=n, gold=_round(gold), proxy=_round(proxy))
        # whole base lines (>= 4 words) against their first two words
        full = [t for t in base_texts if len(t.split(" ")) >= 4]
        short = [" ".join(t.split(" ")[:2]) for t in full]
        d_proxy = [a - b for a, b in zip(rm_scores(model, short), rm_scores(model, full))]
        d_gold = (annotator.scores(short) - annotator.scores(full)).tolist()
        out["first_two_words_minus_line"] = {"n": len(full), "proxy": list(_round(mean_std(d_proxy))),
                                             "gold": list(_round(mean_std(d_gold)))}
        lc = [len(t) for t in train_pairs.chosen_text]
        lr = [len(t) for t in train_pairs.rejected_text]
        out["labels"] = {"pairs": len(lc), "chosen_length": list(_round(mean_std(lc))),
                         "rejected_length": list(_round(mean_std(lr))),
                         "chosen_shorter": round(sum(a < b for a, b in zip(lc, lr)) / len(lc), 4),
                         "chosen_longer": round(sum(a > b for a, b in zip(lc, lr)) / len(lc), 4)}
        return out

    course = course_annotator(text)
    out = {"what": "the course's taste and reward model against the length of a line (notebook 08)", **meta,
           "edges": list(LENGTH_EDGES), "course": {"annotator": repr(course), "reward_model": rm_info,
                                                   **study(course, rm, rm_train)}}
    neutral = length_neutral_annotator(text)
    rm2, info2, train2, _ = build_course_reward_model(gpt, tok, text, progress=True, annotator=neutral)
    out["length_neutral"] = {"annotator": repr(neutral), "bucket_edges_letters": neutral.edges,
                             "bucket_means": _round(neutral.means), "bucket_stds": _round(neutral.stds),
                             "reward_model": info2, **study(neutral, rm2, train2)}
    if path.exists():  # keep the pilot runs made against the same reward models
        stored = json.loads(path.read_text())
        old = stored.get("length_neutral", {})
        if old.get("reward_model") == info2:
            out["length_neutral"].update({k: old[k] for k in ("pilot_runs", "pilot_base") if k in old})
        if stored.get("kl_length_ref", {}).get("reward_model") == rm_info:
            out["kl_length_ref"] = stored["kl_length_ref"]
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    path.write_text(json.dumps(out, indent=1, ensure_ascii=False))
    print(f"length study: {out['wall_s']} s; length-neutral reward model {info2}", flush=True)


def neutral_pilot(gpt, tok, text, train_prompts, eval_prompts, task: dict) -> None:
    """PPO with the course recipe (``PPO_RECIPE``, ``COMPARE_UPDATES`` updates) against the reward model of the
    length-neutral score, for the (β, seed) runs of ``task`` (:func:`plan`); judged by that score (gold) and its
    reward model. Merged into ``length_neutral.pilot_runs`` of ``assets/rlhf_length.json``."""
    path = task["path"]
    out = json.loads(path.read_text())
    eos = tok.stoi["\n"]
    neutral = length_neutral_annotator(text)
    rm2, info2, _, _ = build_course_reward_model(gpt, tok, text, progress=True, annotator=neutral)
    if info2 != out["length_neutral"]["reward_model"]:
        raise SystemExit("pilot: the length-neutral reward model differs from the stored length study's")
    judge = Judge(gpt, rm2, tok, eos, neutral)
    n_up = task["updates"]
    runs = out["length_neutral"].get("pilot_runs", [])
    for beta, seed in task["runs"]:
        _, _, run = ppo_run(gpt, judge, train_prompts, eval_prompts, eos, seed, n_up, kl_coef=beta)
        runs = [r for r in runs if (r["kl_coef"], r["seed"]) != (beta, seed)] + [run]
        out["length_neutral"]["pilot_runs"] = sorted(runs, key=lambda r: (r["kl_coef"], r["seed"]))
        out["length_neutral"]["pilot_base"] = judge.policy(gpt, eval_prompts)
        path.write_text(json.dumps(out, indent=1, ensure_ascii=False))
        print(f"pilot beta={beta} seed={seed}: {run['final']}", flush=True)


def _bins(rows):
    return [{k: (round(v, 4) if isinstance(v, float) and v == v else (None if v != v else v)) for k, v in r.items()}
            for r in rows]


def _q90(n, ys):
    out = []
    for lo, hi in zip(LENGTH_EDGES, LENGTH_EDGES[1:]):
        v = torch.tensor([y for x, y in zip(n, ys) if lo <= x < hi])
        if len(v) >= 10:
            out.append({"lo": lo, "hi": hi, "n": len(v), "q90": round(float(v.quantile(0.9)), 4)})
    return out


if __name__ == "__main__":
    main()
