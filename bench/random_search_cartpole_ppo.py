"""Random search over ``PPOConfig`` for CartPole-v1 on tuning seeds only (issue 11, "Benchmark"; scratch, never a test).

Each candidate draws one value per field from ``SPACE`` and runs tuning seeds 0, 1, 2, ... (up to 20) with
``bench/tune_cartpole_ppo.py``'s ``run`` (stop when solved, 40,000-step cap). Screening: a candidate stops at the
first seed that fails or solves after 26,000 steps, or after seed 9 if its median so far is above 16,500. One JSON
line per candidate goes to ``--out``. Held-out seeds are for ``bench_cartpole.py --ppo-overrides`` afterwards, once.

    PYTHONPATH=$PWD .venv/bin/python bench/random_search_cartpole_ppo.py --seed 1 --minutes 70 \\
        --out bench/results/cartpole_ppo_random_search_tuning_seeds.jsonl

The stored run (seed 1, stopped after about 25 minutes on one core) screened 15 candidates (68 runs); the two best, evaluated on held-out
seeds 130-159 (``bench/results/ppo_candidate_{a,b}_…_seeds130-159.json``), left 2 and 1 of the 30 unsolved.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from tune_cartpole_ppo import run  # noqa: E402

SPACE = {
    "num_envs": [2, 4, 8], "num_steps": [32, 64, 128], "lr": [1e-3, 1.5e-3, 2.5e-3, 3.5e-3, 5e-3],
    "gamma": [0.98, 0.99, 0.995], "gae_lambda": [0.8, 0.9, 0.95], "num_minibatches": [2, 4, 8],
    "update_epochs": [4, 10, 20], "norm_obs": [False, True], "total_timesteps": [30000, 50000, 150000],
    "vf_coef": [0.25, 0.5, 1.0], "max_grad_norm": [0.5, 1.0], "hidden": [(64, 64), (32, 32), (128, 128)],
    "clip_coef": [0.1, 0.2, 0.3],
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0, help="seed of the draws (not of the runs)")
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--out", type=Path, default=Path("/tmp/cartpole_random_search.jsonl"))
    args = p.parse_args()
    rng = random.Random(args.seed)
    t_end = time.time() + 60 * args.minutes
    while time.time() < t_end:
        cfg = {k: rng.choice(v) for k, v in SPACE.items()}
        rows, passed = [], True
        for seed in range(20):
            r = run(cfg, seed, 40_000)
            rows.append(r)
            solved_so_far = [x["solved_at"] for x in rows]
            if (r["solved_at"] is None or r["solved_at"] > 26_000
                    or (seed == 9 and statistics.median(solved_so_far) > 16_500)):
                passed = False
                break
        solved = [x["solved_at"] for x in rows if x["solved_at"] is not None]
        res = {"cfg": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}, "rows": rows,
               "passed": passed, "median": statistics.median(solved) if solved else None, "runs": len(rows)}
        print(json.dumps({k: res[k] for k in ("cfg", "passed", "median", "runs")}), flush=True)
        with args.out.open("a") as f:
            f.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
