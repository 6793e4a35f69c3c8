"""Regenerate ``assets/rl_comparison.json``: REINFORCE vs TRPO vs PPO on CartPole-v1, several seeds.

    python -m lmrl_course.scripts.make_rl_comparison                 # 5 seeds (200-204, never tuned on), 60k env steps each
    python -m lmrl_course.scripts.make_rl_comparison --acrobot       # assets/rl_acrobot.json (seeds 0-4, 11-13)

Notebook 07 plots this file (training all nine runs live would take several minutes). Each run is
one call of the package's ``train_reinforce`` (Monte-Carlo REINFORCE) / ``train_trpo`` / ``train_ppo``
with its CartPole-v1 default configuration and only the budget changed, on the CPU with one thread. For every run the file keeps the 20-episode moving average of the episode
return, sub-sampled to at most ``--points`` points, against env steps and against wall-clock seconds,
and the env step / second at which the run first counted as solved (20-episode mean ≥ 475).

Env-step curves are reproducible bit for bit (same seed, same torch build); wall-clock curves depend
on the machine and its load, so the file records the machine it was made on, and also keeps a
``cpu_time`` axis: the wall clock of each run rescaled to the CPU time its process actually got.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from lmrl_course.device import cpu_name, set_determinism
from lmrl_course.paths import ASSETS_DIR
from lmrl_course.rl import (PPOConfig, ReinforceConfig, TRPOConfig, moving_average, train_ppo, train_reinforce,
                            train_trpo)

OUT = Path(ASSETS_DIR) / "rl_comparison.json"
WINDOW = 20
COMPARISON_SEEDS = [200, 201, 202, 203, 204]
ACROBOT_SEEDS = [0, 1, 2, 3, 4, 11, 12, 13]
PENDULUM_SEEDS = [0, 1, 2, 3, 4]


def configs(total_timesteps: int):
    return {
        "REINFORCE": (train_reinforce, ReinforceConfig(total_timesteps=total_timesteps)),
        "TRPO": (train_trpo, TRPOConfig(total_timesteps=total_timesteps)),
        "PPO": (train_ppo, PPOConfig(total_timesteps=total_timesteps)),
    }


def subsample(n: int, points: int) -> np.ndarray:
    """Indices of at most ``points`` entries of a length-``n`` series, always keeping the last."""
    if n <= points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, points).round().astype(int))


def run(seeds, total_timesteps: int, points: int, algos=("REINFORCE", "TRPO", "PPO")) -> dict:
    set_determinism(threads=1, deterministic=True)
    runs = []
    for algo, (train, cfg) in configs(total_timesteps).items():
        if algo not in algos:
            continue
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
                       "episode, against env steps, wall-clock seconds and CPU seconds (cpu_time: each run's wall "
                       "clock rescaled to the CPU time its process got). Made by "
                       "python -m lmrl_course.scripts.make_rl_comparison.",
        "env_id": "CartPole-v1", "window": WINDOW, "seeds": list(seeds), "total_timesteps": total_timesteps,
        "machine": f"{cpu_name()}, 1 torch thread, torch {torch.__version__.split('+')[0]}",
        "runs": runs,
    }


def run_pendulum(seeds, points: int) -> dict:
    """PPO with a Gaussian policy on Pendulum-v1, PPOConfig.for_env("Pendulum-v1"), 60k env steps per seed."""
    set_determinism(threads=1, deterministic=True)
    runs = []
    for seed in seeds:
        cfg = PPOConfig.for_env("Pendulum-v1", total_timesteps=60_000)
        h = train_ppo("Pendulum-v1", cfg, device="cpu", seed=seed)
        ma = moving_average(h["episode_returns"], WINDOW)
        idx = subsample(len(ma), points)
        runs.append({"seed": seed, "env_steps": [int(h["episode_env_steps"][i]) for i in idx],
                     "mean_return": [round(float(ma[i]), 2) for i in idx], "solved_at_env_steps": h["solved_at_env_steps"],
                     "log_std": [round(float(x), 4) for x in h["policy"].log_std.detach()]})
        print(f"Pendulum seed {seed}: solved at {h['solved_at_env_steps']}", flush=True)
    return {"description": "PPO (Gaussian policy, state-independent log-std) on Pendulum-v1, "
                           "PPOConfig.for_env('Pendulum-v1') with a 60k budget. Made by "
                           "python -m lmrl_course.scripts.make_rl_comparison --pendulum.",
            "seeds": list(seeds), "total_timesteps": 60_000, "threshold": -200.0,
            "machine": f"{cpu_name()}, 1 torch thread, torch {torch.__version__.split('+')[0]}", "runs": runs}


def run_acrobot(seeds, total_timesteps: int, points: int, scales=(1.0, 0.1)) -> dict:
    """PPO on Acrobot-v1 with raw rewards (reward_scale 1) and with PPOConfig.for_env's rewards × 0.1."""
    set_determinism(threads=1, deterministic=True)
    runs = []
    for scale in scales:
        for seed in seeds:
            cfg = PPOConfig.for_env("Acrobot-v1", reward_scale=scale, total_timesteps=total_timesteps)
            start, cpu_start = time.perf_counter(), time.process_time()
            h = train_ppo("Acrobot-v1", cfg, device="cpu", seed=seed)
            ma = moving_average(h["episode_returns"], WINDOW)
            idx = subsample(len(ma), points)
            first_value_loss = float(np.mean(h["value_loss"][:5]))
            runs.append({"reward_scale": scale, "seed": seed,
                         "env_steps": [int(h["episode_env_steps"][i]) for i in idx],
                         "mean_return": [round(float(ma[i]), 2) for i in idx],
                         "solved_at_env_steps": h["solved_at_env_steps"],
                         "value_loss_first_5_updates": round(first_value_loss, 3),
                         "entropy": [round(float(x), 4) for x in h["entropy"]],
                         "update_env_steps": [int(x) for x in h["env_steps"]],
                         "total_cpu_time": round(time.process_time() - cpu_start, 2)})
            print(f"Acrobot reward_scale {scale} seed {seed}: solved at {h['solved_at_env_steps']} "
                  f"({time.perf_counter() - start:.1f} s)", flush=True)
    return {"description": "PPO on Acrobot-v1, rewards as they are vs x 0.1 (PPOConfig.for_env('Acrobot-v1')), "
                           "20-episode moving-average return. Made by "
                           "python -m lmrl_course.scripts.make_rl_comparison --acrobot.",
            "seeds": list(seeds), "total_timesteps": total_timesteps, "threshold": -100.0,
            "machine": f"{cpu_name()}, 1 torch thread, torch {torch.__version__.split('+')[0]}", "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help=f"default: {COMPARISON_SEEDS} (seeds no default was tuned on); with --acrobot "
                             f"{ACROBOT_SEEDS} (the stored figure's: tuning seeds, 11-13 picked for failing once); "
                             f"with --pendulum {PENDULUM_SEEDS}")
    parser.add_argument("--total-timesteps", type=int, default=60_000)
    parser.add_argument("--points", type=int, default=120, help="max points kept per curve")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--acrobot", action="store_true",
                        help="instead: PPO on Acrobot-v1 with and without reward scaling -> assets/rl_acrobot.json (25k steps)")
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 0.1], help="with --acrobot: reward scales")
    parser.add_argument("--pendulum", action="store_true",
                        help="instead: PPO on Pendulum-v1, 60k steps per seed -> assets/rl_pendulum.json")
    parser.add_argument("--algos", nargs="+", default=["REINFORCE", "TRPO", "PPO"])
    parser.add_argument("--merge", type=Path, nargs="+", default=None,
                        help="instead: merge the runs of these files (e.g. one per --algos, made in parallel) into --out")
    args = parser.parse_args()
    if args.seeds is None:  # each mode's own, so that a plain command rewrites its stored file whole
        args.seeds = ACROBOT_SEEDS if args.acrobot else PENDULUM_SEEDS if args.pendulum else COMPARISON_SEEDS
    if args.merge:
        parts = [json.loads(f.read_text()) for f in args.merge]
        data = dict(parts[0], runs=[r for part in parts for r in part["runs"]])
        args.out.write_text(json.dumps(data, indent=1))
        print(f"wrote {args.out}")
        return
    if args.pendulum:
        if args.out == OUT:
            args.out = Path(ASSETS_DIR) / "rl_pendulum.json"
        data = run_pendulum(args.seeds, args.points)
    elif args.acrobot:
        if args.out == OUT:
            args.out = Path(ASSETS_DIR) / "rl_acrobot.json"
        data = run_acrobot(args.seeds, 25_000 if args.total_timesteps == 60_000 else args.total_timesteps, args.points,
                           args.scales)
    else:
        data = run(args.seeds, args.total_timesteps, args.points, args.algos)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
