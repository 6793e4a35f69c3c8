"""Benchmark: env steps and time to solve CartPole-v1 with REINFORCE, PPO and TRPO (the package defaults).

"Solved" = mean return of the last 20 episodes ≥ 475. For each algorithm and seed this prints the env
steps at which the run solved, the wall time and process CPU time to that point, and env steps per
second, and the mean return of 10 greedy evaluation episodes of the policy at that point; then the
median over seeds. It only prints: it never fails.

    .venv/bin/python bench/bench_cartpole.py                      # all three, seeds 0 1 2
    .venv/bin/python bench/bench_cartpole.py --algos ppo --seeds 0 1 2 3 4
    .venv/bin/python bench/bench_cartpole.py --pendulum           # also PPO on Pendulum-v1 (solved: ≥ −200)

The machine's load average is printed beside the figures: wall times on a shared CPU are inflated by
other processes (CPU time much less so).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from lmrl_course.rl import evaluate_policy, PPOConfig, ReinforceConfig, TRPOConfig, train_ppo, train_reinforce, train_trpo

ALGOS = {
    "reinforce": (train_reinforce, ReinforceConfig),
    "ppo": (train_ppo, PPOConfig),
    "trpo": (train_trpo, TRPOConfig),
}


def run_one(algo: str, seed: int, env_id: str = "CartPole-v1"):
    train, Config = ALGOS[algo]
    cfg = PPOConfig.pendulum() if env_id == "Pendulum-v1" else Config()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    h = train(env_id, cfg, device="cpu", seed=seed, stop_when_solved=True)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    steps = h["env_steps"][-1]
    greedy = evaluate_policy(h["policy"], env_id, n_episodes=10, greedy=True, seed=10_000)["mean"]
    return {"eval": greedy, "solved_at": h["solved_at_env_steps"], "solved_wall": h["solved_at_wall_time"], "wall": wall, "cpu": cpu,
            "steps": int(steps), "sps": steps / wall, "budget": cfg.total_timesteps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=list(ALGOS), choices=list(ALGOS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--pendulum", action="store_true", help="also run PPO on Pendulum-v1 with PPOConfig.pendulum()")
    args = parser.parse_args()
    torch.set_num_threads(1)   # small networks are fastest single-threaded
    print(f"torch {torch.__version__} | threads 1 | load average at start {os.getloadavg()}")
    print(f"{'algo':<10} {'seed':>4} {'solved at':>10} {'wall (s)':>9} {'cpu (s)':>8} {'steps/s':>8} {'greedy eval':>12}")
    summary = []
    jobs = [(algo, "CartPole-v1") for algo in args.algos] + ([("ppo", "Pendulum-v1")] if args.pendulum else [])
    for algo, env_id in jobs:
        rows = []
        if env_id != "CartPole-v1":
            algo_label = f"{algo}/{env_id.split('-')[0]}"
        else:
            algo_label = algo
        for seed in args.seeds:
            r = run_one(algo, seed, env_id)
            rows.append(r)
            solved = f"{r['solved_at']:>10d}" if r["solved_at"] is not None else f"{'no (' + str(r['budget'] // 1000) + 'k)':>10}"
            print(f"{algo_label:<10} {seed:>4} {solved} {r['wall']:>9.1f} {r['cpu']:>8.1f} {r['sps']:>8.0f} {r['eval']:>12.1f}", flush=True)
        solved_steps = [r["solved_at"] if r["solved_at"] is not None else float("inf") for r in rows]
        med = statistics.median(solved_steps)
        summary.append((algo_label, med, statistics.median(r["wall"] for r in rows), statistics.median(r["cpu"] for r in rows),
                        statistics.median(r["sps"] for r in rows), sum(s != float("inf") for s in solved_steps), len(rows)))
    print(f"\nload average at end {os.getloadavg()}")
    print(f"{'algo':<10} {'solved':>7} {'median steps':>13} {'median wall':>12} {'median cpu':>11} {'steps/s':>8}")
    for algo, med, wall, cpu, sps, n_ok, n in summary:
        med_s = f"{med:>13.0f}" if med != float("inf") else f"{'-':>13}"
        print(f"{algo:<10} {n_ok:>3}/{n:<3} {med_s} {wall:>11.1f}s {cpu:>10.1f}s {sps:>8.0f}")


if __name__ == "__main__":
    main()
