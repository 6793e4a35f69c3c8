"""Benchmark: TRPO's step size with the damped product sᵀ(F + ξI)s (the package) against the undamped sᵀFs.

The package sizes the natural step with the matrix that conjugate gradient solved with, A = F + ξI:
β = √(2δ / sᵀAs). The alternative β = √(2δ / sᵀFs) puts the *quadratic* KL of the full step exactly on δ.
For each seed and variant this trains TRPO on CartPole-v1 with the default TRPOConfig until solved and
prints the env steps to solve, the mean number of line-search backtracks per update, and the mean exact
KL̄ / δ of the accepted steps (and CPU seconds). It only prints: it never fails. With ``--out FILE`` it
also writes every row, the command, machine, thread count and load average as JSON
(``bench/results/trpo_step_size_seeds100-104.json`` is that file for the default seeds).

    .venv/bin/python bench/bench_trpo_step_size.py                 # seeds 100-104 (never used by the notebooks)
    .venv/bin/python bench/bench_trpo_step_size.py --seeds 105 106
    .venv/bin/python bench/bench_trpo_step_size.py --out bench/results/trpo_step_size_seeds100-104.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

import lmrl_course.rl.trpo as trpo
from lmrl_course.device import cpu_name
from lmrl_course.rl import TRPOConfig, train_trpo

DAMPED_STEP_SIZE = trpo.trust_region_step_size


def run(seed: int, damped: bool, cfg: TRPOConfig):
    # trpo_update calls trust_region_step_size(s, (F + ξI)s, δ); the undamped variant removes ξs from the product
    trpo.trust_region_step_size = (DAMPED_STEP_SIZE if damped else
                                   lambda s, As, max_kl: DAMPED_STEP_SIZE(s, As - cfg.damping * s, max_kl))
    cpu0 = time.process_time()
    try:
        h = train_trpo("CartPole-v1", cfg, device="cpu", seed=seed, stop_when_solved=True)
    finally:
        trpo.trust_region_step_size = DAMPED_STEP_SIZE
    kl, acc = np.array(h["kl"]), np.array(h["accepted"], dtype=bool)
    return (h["solved_at_env_steps"], float(np.mean(h["backtracks"])), float((kl[acc] / cfg.max_kl).mean()),
            len(h["kl"]), int(np.sum(np.array(h["backtracks"]) > 0)), round(time.process_time() - cpu0, 2))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[100, 101, 102, 103, 104])
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = TRPOConfig()
    machine = f"{cpu_name()} ({os.cpu_count()} logical CPUs), {torch.get_num_threads()} torch thread"
    print(f"torch {torch.__version__} | {machine} | load average at start {os.getloadavg()}", flush=True)
    out = {"command": " ".join(["bench/bench_trpo_step_size.py"] + sys.argv[1:]), "machine": machine,
           "torch": torch.__version__, "load_average_start": os.getloadavg(), "seeds": args.seeds,
           "max_kl": cfg.max_kl, "damping": cfg.damping, "records": [], "summary": {}}
    for damped in (True, False):
        name = "β = √(2δ/sᵀ(F+ξI)s) (package)" if damped else "β = √(2δ/sᵀFs) (undamped)"
        variant = "damped" if damped else "undamped"
        rows = [run(seed, damped, cfg) for seed in args.seeds]
        for seed, (steps, bt, klr, n_updates, n_backtracked, cpu_s) in zip(args.seeds, rows):
            print(f"{name:32s} seed {seed}: solved at {steps} env steps, {bt:.2f} backtracks/update "
                  f"({n_backtracked} of {n_updates} updates backtracked), exact KL̄/δ {klr:.3f}, {cpu_s:.1f} s CPU",
                  flush=True)
            out["records"].append(dict(variant=variant, seed=seed, solved_at_env_steps=steps,
                                       backtracks_per_update=bt, updates=n_updates,
                                       updates_that_backtracked=n_backtracked, mean_kl_over_delta=klr, cpu_s=cpu_s))
        solved = [r[0] for r in rows if r[0] is not None]
        med = statistics.median(solved) if solved else float("nan")
        mean_bt = statistics.mean(r[1] for r in rows)
        print(f"{name:32s} median: {med:.0f} env steps ({len(solved)}/{len(rows)} solved), "
              f"{mean_bt:.2f} backtracks/update\n", flush=True)
        out["summary"][variant] = dict(median_solved_at=med, solved=len(solved), runs=len(rows),
                                       mean_backtracks_per_update=mean_bt,
                                       updates=sum(r[3] for r in rows), updates_that_backtracked=sum(r[4] for r in rows))
    out["load_average_end"] = os.getloadavg()
    if args.out is not None:
        args.out.write_text(json.dumps(out, indent=1) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
