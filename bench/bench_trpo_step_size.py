"""Benchmark: TRPO's step size with the damped product sᵀ(F + ξI)s (the package) against the undamped sᵀFs.

The package sizes the natural step with the matrix that conjugate gradient solved with, A = F + ξI:
β = √(2δ / sᵀAs). The alternative β = √(2δ / sᵀFs) puts the *quadratic* KL of the full step exactly on δ.
For each seed and variant this trains TRPO on CartPole-v1 with the default TRPOConfig until solved and
prints the env steps to solve, the mean number of line-search backtracks per update, and the mean exact
KL̄ / δ of the accepted steps. It only prints: it never fails.

    .venv/bin/python bench/bench_trpo_step_size.py                 # seeds 100-104 (never used by the notebooks)
    .venv/bin/python bench/bench_trpo_step_size.py --seeds 105 106
"""
from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch

import lmrl_course.rl.trpo as trpo
from lmrl_course.rl import TRPOConfig, train_trpo

DAMPED_STEP_SIZE = trpo.trust_region_step_size


def run(seed: int, damped: bool, cfg: TRPOConfig):
    # trpo_update calls trust_region_step_size(s, (F + ξI)s, δ); the undamped variant removes ξs from the product
    trpo.trust_region_step_size = (DAMPED_STEP_SIZE if damped else
                                   lambda s, As, max_kl: DAMPED_STEP_SIZE(s, As - cfg.damping * s, max_kl))
    try:
        h = train_trpo("CartPole-v1", cfg, device="cpu", seed=seed, stop_when_solved=True)
    finally:
        trpo.trust_region_step_size = DAMPED_STEP_SIZE
    kl, acc = np.array(h["kl"]), np.array(h["accepted"], dtype=bool)
    return h["solved_at_env_steps"], float(np.mean(h["backtracks"])), float((kl[acc] / cfg.max_kl).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[100, 101, 102, 103, 104])
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = TRPOConfig()
    for damped in (True, False):
        name = "β = √(2δ/sᵀ(F+ξI)s) (package)" if damped else "β = √(2δ/sᵀFs) (undamped)"
        rows = [run(seed, damped, cfg) for seed in args.seeds]
        for seed, (steps, bt, klr) in zip(args.seeds, rows):
            print(f"{name:32s} seed {seed}: solved at {steps} env steps, {bt:.2f} backtracks/update, "
                  f"exact KL̄/δ {klr:.3f}", flush=True)
        solved = [r[0] for r in rows if r[0] is not None]
        med = statistics.median(solved) if solved else float("nan")
        print(f"{name:32s} median: {med:.0f} env steps ({len(solved)}/{len(rows)} solved), "
              f"{statistics.mean(r[1] for r in rows):.2f} backtracks/update\n", flush=True)


if __name__ == "__main__":
    main()
