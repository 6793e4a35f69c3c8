"""Benchmark: env steps and CPU time to solve, the course's trainers (cfg=None) against SB3 + rl-zoo PPO.

"Solved" = mean return of the last 20 episodes ≥ the environment's threshold (CartPole-v1 475,
Acrobot-v1 −100, Pendulum-v1 −200). Each course run is ``train_<algo>(env_id, cfg=None, ...)``: the
documented per-environment default (``ReinforceConfig.for_env`` / ``PPOConfig.for_env``), so the
bench measures exactly what a learner gets. REINFORCE here is Monte-Carlo REINFORCE (whole episodes,
the value network only a baseline, bootstrapped only at time-limit truncations). ``--sb3`` also runs
stable-baselines3's PPO with rl-baselines3-zoo's published hyper-parameters (``bench/sb3_zoo.py``;
``pip install -r bench/requirements.txt``) on the same seeds and prints the ratios course / SB3-zoo of
the median env steps to solve and of the median CPU seconds. It only prints: it never fails.

    .venv/bin/python bench/bench_cartpole.py                                   # REINFORCE + PPO, CartPole, seeds 100-109
    .venv/bin/python bench/bench_cartpole.py --algos ppo --envs CartPole-v1 Acrobot-v1 --sb3
    .venv/bin/python bench/bench_cartpole.py --algos ppo --envs Pendulum-v1 --seeds 100 101 102

Seeds 100-109 are held out: no default was tuned on them. The machine's load average is printed beside
the figures: wall times on a shared CPU are inflated by other processes (CPU time much less so).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from pathlib import Path

import torch

from lmrl_course.scripts.make_rl_defaults_table import HELD_OUT, run_one

sys.path.insert(0, str(Path(__file__).resolve().parent))


def median_or_none(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def report(label, rows):
    steps = [r["solved_at"] for r in rows]
    ok = [s for s in steps if s is not None]
    med = statistics.median(ok) if len(ok) == len(steps) else (statistics.median(ok) if ok else None)
    print(f"{label:<28} solved {len(ok):>2}/{len(rows):<2} median steps {med if med is None else int(med)!s:>7} "
          f"range {min(ok) if ok else '-'}-{max(ok) if ok else '-'} | median CPU {statistics.median(r['cpu_s'] for r in rows):6.1f} s",
          flush=True)
    return med, statistics.median(r["cpu_s"] for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=["reinforce", "ppo"], choices=["reinforce", "ppo", "trpo"])
    parser.add_argument("--envs", nargs="+", default=["CartPole-v1"])
    parser.add_argument("--seeds", nargs="+", type=int, default=HELD_OUT)
    parser.add_argument("--sb3", action="store_true", help="also SB3 PPO with rl-zoo hyper-parameters (CartPole, Acrobot)")
    parser.add_argument("--course-from", type=Path, default=None,
                        help="take the course's runs from this JSON (assets/rl_defaults_table.json) instead of rerunning them")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__} | {platform.machine()} {platform.processor()} | 1 torch thread | "
          f"load average at start {os.getloadavg()}")
    medians = {}
    for env_id in args.envs:
        for algo in args.algos:
            rows = []
            saved = {}
            if args.course_from is not None:
                saved = {(r["algo"], r["env_id"], r["seed"]): r for r in json.loads(args.course_from.read_text())["records"]}
            for seed in args.seeds:
                r = saved.get((algo, env_id, seed)) or run_one(algo, env_id, seed)
                rows.append(r)
                print(f"  {algo:<9} {env_id:<12} seed {seed:>4}: solved at {r['solved_at']} "
                      f"(budget {r['budget']}) | CPU {r['cpu_s']:.1f} s | wall {r['wall_s']:.1f} s", flush=True)
            medians[(algo, env_id)] = report(f"{algo} {env_id}", rows)
        if args.sb3 and env_id in ("CartPole-v1", "Acrobot-v1"):
            from sb3_zoo import run_sb3_zoo
            rows = []
            for seed in args.seeds:
                r = run_sb3_zoo(env_id, seed)
                r["cpu_s"] = r["cpu"]
                rows.append(r)
                print(f"  sb3-zoo   {env_id:<12} seed {seed:>4}: solved at {r['solved_at']} | CPU {r['cpu']:.1f} s", flush=True)
            medians[("sb3", env_id)] = report(f"sb3-zoo ppo {env_id}", rows)
            if ("ppo", env_id) in medians and medians[("sb3", env_id)][0]:
                (s_ours, c_ours), (s_sb3, c_sb3) = medians[("ppo", env_id)], medians[("sb3", env_id)]
                if s_ours:
                    print(f"ratio course PPO / SB3-zoo on {env_id}: env steps {s_ours / s_sb3:.2f}x, CPU {c_ours / c_sb3:.2f}x")
    print(f"load average at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
