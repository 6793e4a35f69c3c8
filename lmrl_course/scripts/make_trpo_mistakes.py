"""Regenerate ``assets/trpo_mistakes.json``: TRPO with and without its line search, several seeds.

    python -m lmrl_course.scripts.make_trpo_mistakes                  # what notebook 06 plots (10 runs)
    python -m lmrl_course.scripts.make_trpo_mistakes --seeds 200 --damping 0.01 --variants none --out /tmp/t.json

Notebook 06 plots this file (10 runs of 40k env steps: about 2 minutes on an idle core, much longer on
a loaded machine). Each run is one call of the package's ``train_trpo`` on CartPole-v1 with the
default ``TRPOConfig`` except ``max_kl`` (δ = 0.05), ``damping`` (λ = 0.001), ``total_timesteps`` and
``line_search``: ``"backtracking"`` (TRPO) and ``"none"`` (the full step βs taken unchecked);
``--variants no_restore`` adds the line search that keeps its last candidate when none passes (it
differs from TRPO only on updates that TRPO rejects, and the file records how many those are; in the
committed file TRPO rejected none of its 200 updates, so ``no_restore`` runs would equal the
``backtracking`` ones bit for bit and are left out). Per
update the file keeps the env steps, the exact KL̄(θ_old ‖ θ_new) of the step taken, whether the line
search accepted, and the mean return of the last 20 finished episodes. δ and λ were chosen on seed
200 (λ = 0.01 and 0.001, λ = 0 tried there); the notebook reports seeds 0-4. CPU, one torch thread:
runs are reproducible bit for bit.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from lmrl_course.device import cpu_name, set_determinism
from lmrl_course.paths import ASSETS_DIR
from lmrl_course.rl import TRPOConfig, train_trpo

OUT = Path(ASSETS_DIR) / "trpo_mistakes.json"
VARIANTS = ("backtracking", "none", "no_restore")


def machine() -> str:
    """The CPU model (:func:`lmrl_course.device.cpu_name`), its logical CPUs, the torch threads of the runs,
    the torch version: e.g. "AMD EPYC (2 logical CPUs), 1 torch thread, torch 2.13.0"."""
    n = torch.get_num_threads()
    return (f"{cpu_name()} ({os.cpu_count()} logical CPUs), {n} torch thread{'s' if n != 1 else ''}, "
            f"torch {torch.__version__.split('+')[0]}")


def run(seeds, max_kls, total_timesteps: int, damping: float, variants=VARIANTS) -> dict:
    set_determinism(threads=1, deterministic=True)
    runs = []
    for max_kl in max_kls:
        for variant in variants:
            for seed in seeds:
                cfg = TRPOConfig(total_timesteps=total_timesteps, max_kl=max_kl, damping=damping, line_search=variant)
                start = time.perf_counter()
                h = train_trpo("CartPole-v1", cfg, device="cpu", seed=seed)
                took = time.perf_counter() - start
                runs.append({
                    "max_kl": max_kl, "line_search": variant, "seed": seed,
                    "env_steps": [int(x) for x in h["env_steps"]],
                    "kl": [round(float(x), 5) for x in h["kl"]],
                    "accepted": [bool(x) for x in h["accepted"]],
                    "mean_return": [round(float(x), 2) for x in h["mean_return"]],
                    "solved_at_env_steps": h["solved_at_env_steps"],
                })
                r = h["mean_return"]
                print(f"δ = {max_kl:<5g} {variant:12s} seed {seed}: final 20-episode mean {r[-1]:6.1f}, "
                      f"max KL̄ {max(h['kl']):.3f}, rejected {h['accepted'].count(0.0)}/{len(h['kl'])}, "
                      f"solved at {h['solved_at_env_steps']}, took {took:.1f} s", flush=True)
    return {
        "description": "TRPO on CartPole-v1 with each line search in 'variants' (backtracking: TRPO; none: "
                       "the full step unchecked; no_restore: keeps the last candidate when all fail); per "
                       "update: env steps, exact KL of the step, accepted, 20-episode mean return. Made by "
                       "python -m lmrl_course.scripts.make_trpo_mistakes.",
        "env_id": "CartPole-v1", "seeds": list(seeds), "variants": list(variants), "max_kls": list(max_kls), "damping": damping,
        "total_timesteps": total_timesteps,
        "machine": machine(),
        "torch_threads": torch.get_num_threads(),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--max-kls", type=float, nargs="+", default=[0.05])
    parser.add_argument("--total-timesteps", type=int, default=40_000)
    parser.add_argument("--damping", type=float, default=0.001)
    parser.add_argument("--variants", nargs="+", default=["backtracking", "none"], choices=VARIANTS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    data = run(args.seeds, args.max_kls, args.total_timesteps, args.damping, args.variants)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, separators=(",", ":")))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
