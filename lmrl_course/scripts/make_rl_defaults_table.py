"""Held-out check of the trainers' per-environment defaults: ``assets/rl_defaults_table.json``.

    python -m lmrl_course.scripts.make_rl_defaults_table                       # every (algo, env), seeds 100-109
    python -m lmrl_course.scripts.make_rl_defaults_table --algos ppo --envs Acrobot-v1 --seeds 100 101

Each run is ``train_<algo>(env_id, cfg=None, seed=s, stop_when_solved=True)``: the documented default
of that environment (``ReinforceConfig.for_env`` / ``TRPOConfig.for_env`` / ``PPOConfig.for_env``: threshold and budget
included), on the CPU with one torch thread. Seeds 100-109 are never used for tuning nor in the
notebooks. The file is rewritten after every run and runs already in it are skipped, so an interrupted
sweep resumes where it stopped (``--fresh`` starts over). Each record keeps the env steps at which the
run was solved (None = not within the budget), the CPU seconds of the process, and the wall seconds.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from lmrl_course.paths import ASSETS_DIR

OUT = Path(ASSETS_DIR) / "rl_defaults_table.json"
HELD_OUT = list(range(100, 110))
ENVS = ["CartPole-v1", "Acrobot-v1", "Pendulum-v1"]
PLAN = {"reinforce": ENVS, "trpo": ENVS, "ppo": ENVS}


def trainer(algo: str):
    from lmrl_course.rl import train_ppo, train_reinforce, train_trpo
    return {"reinforce": train_reinforce, "ppo": train_ppo, "trpo": train_trpo}[algo]


def run_one(algo: str, env_id: str, seed: int) -> dict:
    """One training run with ``cfg=None``; returns its record."""
    torch.set_num_threads(1)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    h = trainer(algo)(env_id, None, device="cpu", seed=seed, stop_when_solved=True)
    cfg = h["config"]
    return {"algo": algo, "env_id": env_id, "seed": seed, "solved_at": h["solved_at_env_steps"],
            "env_steps": int(h["env_steps"][-1]), "budget": cfg["total_timesteps"],
            "threshold": cfg["solved_threshold"], "window": cfg["solved_window"], "cpu_s": round(time.process_time() - cpu0, 2),
            "wall_s": round(time.perf_counter() - wall0, 2)}


def summarise(records) -> list:
    """Per (algo, env): solved count, median and range of the env steps to solve, median CPU seconds, and the
    "solved" rule (mean of the last ``window`` episodes ≥ ``threshold``; records before the window was
    recorded used 20)."""
    rows = []
    for key in sorted({(r["algo"], r["env_id"]) for r in records}):
        rs = [r for r in records if (r["algo"], r["env_id"]) == key]
        steps = [r["solved_at"] for r in rs if r["solved_at"] is not None]
        rows.append({"algo": key[0], "env_id": key[1], "solved": len(steps), "runs": len(rs),
                     "median_steps": statistics.median(steps) if steps else None,
                     "min_steps": min(steps) if steps else None, "max_steps": max(steps) if steps else None,
                     "median_cpu_s": round(statistics.median(r["cpu_s"] for r in rs), 2),
                     "threshold": rs[0]["threshold"], "window": rs[0].get("window", 20)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", nargs="+", default=list(PLAN))
    parser.add_argument("--envs", nargs="+", default=None, help="default: the plan of each algorithm")
    parser.add_argument("--seeds", nargs="+", type=int, default=HELD_OUT)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--merge", type=Path, nargs="+", default=None,
                        help="add the records of these files (sweeps run in parallel with --out elsewhere) to --out")
    args = parser.parse_args()
    data = {"records": []}
    if args.out.exists() and not args.fresh:
        data = json.loads(args.out.read_text())
    if args.merge:
        have = {(r["algo"], r["env_id"], r["seed"]) for r in data["records"]}
        for f in args.merge:
            for r in json.loads(f.read_text())["records"]:
                if (r["algo"], r["env_id"], r["seed"]) not in have:
                    data["records"].append(r)
                    have.add((r["algo"], r["env_id"], r["seed"]))
        data["summary"] = summarise(data["records"])
        args.out.write_text(json.dumps(data, indent=1))
        args.algos = []
    done = {(r["algo"], r["env_id"], r["seed"]) for r in data["records"]}
    data["description"] = ("Each trainer with cfg=None (its per-environment defaults), seeds never used for tuning. "
                           "Made by python -m lmrl_course.scripts.make_rl_defaults_table.")
    from lmrl_course.device import cpu_name
    data["machine"] = f"{cpu_name()}, 1 torch thread, torch {torch.__version__.split('+')[0]}"
    if args.merge:
        args.out.write_text(json.dumps(data, indent=1))
    for algo in args.algos:
        for env_id in args.envs or PLAN[algo]:
            for seed in args.seeds:
                if (algo, env_id, seed) in done:
                    continue
                rec = run_one(algo, env_id, seed)
                data["records"].append(rec)
                data["summary"] = summarise(data["records"])
                args.out.write_text(json.dumps(data, indent=1))
                print(json.dumps(rec), flush=True)
    for row in summarise(data["records"]):
        print(row)


if __name__ == "__main__":
    main()
