"""Benchmark: env steps and CPU time to solve, the course's trainers (cfg=None) against SB3 + rl-zoo PPO.

"Solved" = each config's own rule: the mean return of its last ``solved_window`` episodes ≥ its
``solved_threshold`` (20 episodes and CartPole-v1 475, Acrobot-v1 −100, Pendulum-v1 −200, the same rule
for every trainer; REINFORCE needs a 1M-step budget on Pendulum: see ``lmrl_course/rl/reinforce.py``). Each course run is ``train_<algo>(env_id, cfg=None, ...)``: the
documented per-environment default (``ReinforceConfig`` / ``TRPOConfig`` / ``PPOConfig.for_env``), so the
bench measures exactly what a learner gets. REINFORCE here is Monte-Carlo REINFORCE (whole episodes,
the value network only a baseline, bootstrapped only at time-limit truncations). ``--sb3`` also runs
stable-baselines3's PPO with rl-baselines3-zoo's published hyper-parameters (``bench/sb3_zoo.py``;
``pip install -r bench/requirements.txt``) on the same seeds and prints the ratios course / SB3-zoo of
the median env steps to solve and of the median CPU seconds. It only prints: it never fails.

    .venv/bin/python bench/bench_cartpole.py                                   # REINFORCE + PPO, CartPole, seeds 100-109
    .venv/bin/python bench/bench_cartpole.py --algos ppo --envs CartPole-v1 Acrobot-v1 --sb3
    .venv/bin/python bench/bench_cartpole.py --algos ppo --envs Pendulum-v1 --seeds 100 101 102
    # a PPOConfig setting other than cfg=None, against SB3 runs stored by an earlier --out:
    .venv/bin/python bench/bench_cartpole.py --algos ppo --ppo-overrides '{"norm_obs": true}' \
        --sb3-from bench/results/ppo_vs_sb3zoo_cartpole_heldout.json --out /tmp/candidate.json

Every run prints its row (seed, env step at which it was solved, CPU and wall seconds); each side prints
solved count, median and range of env steps and CPU seconds; ``--out FILE.json`` also writes the rows,
summaries, ratios, the command, machine and thread count (``bench/results/`` holds the runs quoted in
issue 11). ``--course-from`` / ``--sb3-from`` reuse stored rows instead of rerunning them.

Seeds 100-109 are held out: no default was tuned on them (nor on 110-129, run later). The machine's load
average is printed beside the figures: wall times on a shared CPU are inflated by other processes (CPU time much
less so). A ratio of medians over 10 seeds is noisy (CartPole PPO: 0.69x, 0.56x, 0.66x on seeds 100-109,
110-119, 120-129): pool several ``--out`` files with ``bench/pool_cartpole_ratio.py``, which prints the pooled
ratio with a bootstrap interval (bench/results/README.md).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from lmrl_course.device import cpu_name
from lmrl_course.scripts.make_rl_defaults_table import HELD_OUT, run_one

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _s(x) -> str:
    return "-" if x is None else f"{x:.1f} s"


def summary(rows) -> dict:
    """Solved count, median and range of the env steps to solve (over the solved runs) and of the CPU seconds."""
    ok = [r["solved_at"] for r in rows if r["solved_at"] is not None]
    cpu = [r["cpu_s"] for r in rows]
    return {"solved": len(ok), "runs": len(rows),
            "median_steps": statistics.median(ok) if ok else None,
            "min_steps": min(ok) if ok else None, "max_steps": max(ok) if ok else None,
            "median_cpu_s": round(statistics.median(cpu), 2), "min_cpu_s": min(cpu), "max_cpu_s": max(cpu)}


def report(label, rows) -> dict:
    s = summary(rows)
    med = "-" if s["median_steps"] is None else f"{s['median_steps']:.0f}"
    print(f"{label:<34} solved {s['solved']:>2}/{s['runs']:<2} | env steps median {med:>7} "
          f"range {s['min_steps']}-{s['max_steps']} | CPU s median {s['median_cpu_s']:.1f} "
          f"range {s['min_cpu_s']:.1f}-{s['max_cpu_s']:.1f}", flush=True)
    return s


def run_course(algo: str, env_id: str, seed: int, overrides: dict) -> dict:
    """``run_one`` (cfg=None) or, with ``overrides``, PPO with ``PPOConfig.for_env(env_id, **overrides)``."""
    if not overrides:
        return run_one(algo, env_id, seed)
    if algo != "ppo":
        raise ValueError("--ppo-overrides applies to --algos ppo only")
    from lmrl_course.rl import PPOConfig, train_ppo
    torch.set_num_threads(1)
    cfg = PPOConfig.for_env(env_id, **overrides)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    h = train_ppo(env_id, cfg, device="cpu", seed=seed, stop_when_solved=True)
    return {"algo": algo, "env_id": env_id, "seed": seed, "solved_at": h["solved_at_env_steps"],
            "env_steps": int(h["env_steps"][-1]), "budget": cfg.total_timesteps, "threshold": cfg.solved_threshold,
            "cpu_s": round(time.process_time() - cpu0, 2), "wall_s": round(time.perf_counter() - wall0, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=["reinforce", "ppo"], choices=["reinforce", "ppo", "trpo"])
    parser.add_argument("--envs", nargs="+", default=["CartPole-v1"])
    parser.add_argument("--seeds", nargs="+", type=int, default=HELD_OUT)
    parser.add_argument("--sb3", action="store_true", help="also SB3 PPO with rl-zoo hyper-parameters (CartPole, Acrobot)")
    parser.add_argument("--sb3-only", action="store_true", help="only the SB3-zoo runs (no course runs, no ratios)")
    parser.add_argument("--course-from", type=Path, default=None,
                        help="take the course's runs from this JSON (assets/rl_defaults_table.json) instead of rerunning them")
    parser.add_argument("--sb3-from", type=Path, nargs="+", default=None,
                        help="take the SB3-zoo runs from these --out JSONs (their sb3 rows) instead of rerunning them")
    parser.add_argument("--ppo-overrides", type=json.loads, default={},
                        help='JSON dict of PPOConfig fields over PPOConfig.for_env(env), e.g. \'{"num_steps": 32}\'')
    parser.add_argument("--out", type=Path, default=None, help="also write every row, the summaries and ratios to this JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    machine = f"{cpu_name()} ({os.cpu_count()} logical CPUs), {torch.get_num_threads()} torch thread per run"
    print(f"torch {torch.__version__} | {machine} | load average at start {os.getloadavg()}", flush=True)
    saved = {}
    if args.course_from is not None:
        data = json.loads(args.course_from.read_text())
        if data.get("ppo_overrides", {}) != args.ppo_overrides:
            raise SystemExit(f"{args.course_from} was made with --ppo-overrides {data.get('ppo_overrides', {})}, "
                             f"not {args.ppo_overrides}")
        saved = {(r["algo"], r["env_id"], r["seed"]): r for r in data["records"] if r.get("side", "course") == "course"}
    saved_sb3 = {}
    for f in args.sb3_from or []:
        saved_sb3.update({(r["env_id"], r["seed"]): r for r in json.loads(f.read_text())["records"] if r.get("side") == "sb3"})
    out = {"command": " ".join(sys.argv), "machine": machine, "torch": torch.__version__,
           "load_average_start": os.getloadavg(), "ppo_overrides": args.ppo_overrides,
           "records": [], "summary": {}, "ratios": {}}

    def save():
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(out, indent=1))

    for env_id in args.envs:
        for algo in [] if args.sb3_only else args.algos:
            rows = []
            for seed in args.seeds:
                r = saved.get((algo, env_id, seed)) or run_course(algo, env_id, seed, args.ppo_overrides)
                rows.append(r)
                out["records"].append(dict(r, side="course"))
                save()
                print(f"  {algo:<9} {env_id:<12} seed {seed:>4}: solved at {r['solved_at']} "
                      f"(budget {r['budget']}) | CPU {r['cpu_s']:.1f} s | wall {_s(r.get('wall_s'))}", flush=True)
            out["summary"][f"{algo} {env_id}"] = report(f"course {algo} {env_id}", rows)
        if (args.sb3 or args.sb3_only or args.sb3_from) and env_id in ("CartPole-v1", "Acrobot-v1"):
            from sb3_zoo import run_sb3_zoo
            rows = []
            for seed in args.seeds:
                r = saved_sb3.get((env_id, seed)) or run_sb3_zoo(env_id, seed)
                r.update(algo="sb3-zoo-ppo", env_id=env_id, seed=seed, side="sb3")
                rows.append(r)
                out["records"].append(r)
                save()
                print(f"  sb3-zoo   {env_id:<12} seed {seed:>4}: solved at {r['solved_at']} "
                      f"(budget {r['budget']}) | CPU {r['cpu_s']:.1f} s | wall {_s(r.get('wall_s'))}", flush=True)
            sb3 = out["summary"][f"sb3-zoo-ppo {env_id}"] = report(f"sb3-zoo ppo {env_id}", rows)
            ours = out["summary"].get(f"ppo {env_id}")
            if ours and ours["median_steps"] and sb3["median_steps"]:
                ratio = {"env_steps": round(ours["median_steps"] / sb3["median_steps"], 3),
                         "cpu_s": round(ours["median_cpu_s"] / sb3["median_cpu_s"], 3),
                         "all_solved": ours["solved"] == ours["runs"] and sb3["solved"] == sb3["runs"]}
                out["ratios"][env_id] = ratio
                print(f"ratio course PPO / SB3-zoo on {env_id} (medians): env steps {ratio['env_steps']:.2f}x, "
                      f"CPU {ratio['cpu_s']:.2f}x{'' if ratio['all_solved'] else ' (NOT every run solved)'}", flush=True)
    out["load_average_end"] = os.getloadavg()
    save()
    print(f"load average at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
