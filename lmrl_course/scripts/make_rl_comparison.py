"""Regenerate ``assets/rl_comparison.json``: REINFORCE vs TRPO vs PPO on CartPole-v1, several seeds.

    python -m lmrl_course.scripts.make_rl_comparison                 # 3 seeds, 80k env steps each
    python -m lmrl_course.scripts.make_rl_comparison --seeds 0 1 2 3 4 --total-timesteps 150000

Notebook 07 plots this file (training all nine runs live would take several minutes). Each run is
one call of the package's ``train_reinforce`` / ``train_trpo`` / ``train_ppo`` with its default
configuration (REINFORCE with 128 steps per env per update and ``ent_coef=0.01``, as in notebook 05),
on the CPU with one thread. For every run the file keeps the 20-episode moving average of the episode
return, sub-sampled to at most ``--points`` points, against env steps and against wall-clock seconds,
and the env step / second at which the run first counted as solved (20-episode mean ≥ 475).

Env-step curves are reproducible bit for bit (same seed, same torch build); wall-clock curves depend
on the machine and its load, so the file records the machine it was made on, and also keeps a
``cpu_time`` axis: the wall clock of each run rescaled to the CPU time its process actually got.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from lmrl_course.device import set_determinism
from lmrl_course.paths import ASSETS_DIR
from lmrl_course.rl import (PPOConfig, ReinforceConfig, TRPOConfig, moving_average, train_ppo, train_reinforce,
                            train_trpo)

OUT = Path(ASSETS_DIR) / "rl_comparison.json"
WINDOW = 20


def configs(total_timesteps: int):
    return {
        "REINFORCE": (train_reinforce, ReinforceConfig(total_timesteps=total_timesteps, num_steps=128, ent_coef=0.01)),
        "TRPO": (train_trpo, TRPOConfig(total_timesteps=total_timesteps)),
        "PPO": (train_ppo, PPOConfig(total_timesteps=total_timesteps)),
    }


def subsample(n: int, points: int) -> np.ndarray:
    """Indices of at most ``points`` entries of a length-``n`` series, always keeping the last."""
    if n <= points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, points).round().astype(int))


def run(seeds, total_timesteps: int, points: int) -> dict:
    set_determinism(threads=1, deterministic=True)
    runs = []
    for algo, (train, cfg) in configs(total_timesteps).items():
        for seed in seeds:
            start, cpu_start = time.perf_counter(), time.process_time()
            h = train("CartPole-v1", cfg, device="cpu", seed=seed)
            took, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            # The machine may be shared: rescale the wall clock of each episode to this process's CPU time
            # (assumes the load was steady during the run), so runs made under different loads compare.
            scale = cpu / took
            ma = moving_average(h["episode_returns"], WINDOW)
            idx = subsample(len(ma), points)
            runs.append({
                "algo": algo, "seed": seed,
                "env_steps": [int(h["episode_env_steps"][i]) for i in idx],
                "wall_time": [round(float(h["episode_wall_time"][i]), 3) for i in idx],
                "cpu_time": [round(float(h["episode_wall_time"][i]) * scale, 3) for i in idx],
                "mean_return": [round(float(ma[i]), 2) for i in idx],
                "solved_at_env_steps": h["solved_at_env_steps"],
                "solved_at_wall_time": None if h["solved_at_wall_time"] is None else round(h["solved_at_wall_time"], 3),
                "total_wall_time": round(took, 2),
                "total_cpu_time": round(cpu, 2),
                "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in h["config"].items()},
            })
            print(f"{algo:9s} seed {seed}: solved at {h['solved_at_env_steps']} env steps, took {took:.1f} s "
                  f"({cpu:.1f} s of CPU)", flush=True)
    return {
        "description": "REINFORCE vs TRPO vs PPO on CartPole-v1: 20-episode moving-average return per finished "
                       "episode, against env steps and wall-clock seconds. Made by "
                       "python -m lmrl_course.scripts.make_rl_comparison.",
        "env_id": "CartPole-v1", "window": WINDOW, "seeds": list(seeds), "total_timesteps": total_timesteps,
        "machine": f"{platform.machine()} CPU, 1 torch thread, torch {torch.__version__.split('+')[0]}",
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--total-timesteps", type=int, default=80_000)
    parser.add_argument("--points", type=int, default=120, help="max points kept per curve")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    data = run(args.seeds, args.total_timesteps, args.points)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
