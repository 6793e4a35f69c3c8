"""Held-out check of the trainers' per-environment defaults: ``assets/rl_defaults_table.json``.

    python -m lmrl_course.scripts.make_rl_defaults_table                       # every (algo, env), seeds 100-109
    python -m lmrl_course.scripts.make_rl_defaults_table --algos ppo --envs Acrobot-v1 --seeds 100 101

Each run is ``train_<algo>(env_id, cfg=None, seed=s, stop_when_solved=True)``: the documented default
of that environment (``ReinforceConfig.for_env`` / ``TRPOConfig.for_env`` / ``PPOConfig.for_env``: threshold and budget
included), on the CPU with one torch thread. Seeds 100-109 are never used for tuning nor in the
notebooks. Each record keeps the env steps at which the run was solved (None = not within the budget),
the CPU seconds of the process, the wall seconds, and ``config``: the resolved config it ran with
(``dataclasses.asdict``, as in the trainer's history).

The file is rewritten after every run, and a run already in it is skipped only while it is *current*:
a record whose ``config`` differs from today's default for its (algo, env) (``<Config>.for_env(env_id)``)
is **stale** and is re-run, replacing the old row, so that changing an ``ENV_DEFAULTS`` entry or a
dataclass default and re-running the command refreshes exactly the rows it affects. An interrupted
sweep therefore resumes where it stopped; ``--fresh`` starts over. Records made before configs were
stored (no ``config`` key) cannot be checked: they are kept as they are, unless ``--recheck`` is given,
which treats them as stale too (they are re-run and then carry their config; restrict the sweep with
``--algos`` / ``--envs`` to re-run only some). ``--dry-run`` lists what would run, and why, without
training.
"""
from __future__ import annotations

import argparse
import dataclasses
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


def default_config(algo: str, env_id: str) -> dict:
    """Today's default of ``algo`` on ``env_id`` (what ``cfg=None`` runs) as a JSON-ready dict (tuples as lists,
    the form in which a record stores it)."""
    from lmrl_course.rl import PPOConfig, ReinforceConfig, TRPOConfig
    cls = {"reinforce": ReinforceConfig, "ppo": PPOConfig, "trpo": TRPOConfig}[algo]
    return json.loads(json.dumps(dataclasses.asdict(cls.for_env(env_id))))


def why_rerun(record: dict, current: dict, recheck: bool = False):
    """None if ``record`` is current (skip it), else why it must be run again: its stored ``config``
    differs from ``current`` (named fields), or it has no config and ``recheck`` is set."""
    if "config" not in record:
        return "no stored config (--recheck)" if recheck else None
    stored = record["config"]
    changed = sorted(k for k in set(stored) | set(current) if stored.get(k, "<absent>") != current.get(k, "<absent>"))
    return f"config changed: {', '.join(changed)}" if changed else None


def run_one(algo: str, env_id: str, seed: int) -> dict:
    """One training run with ``cfg=None``; returns its record."""
    torch.set_num_threads(1)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    h = trainer(algo)(env_id, None, device="cpu", seed=seed, stop_when_solved=True)
    cfg = h["config"]                                   # dataclasses.asdict of the resolved config
    return {"algo": algo, "env_id": env_id, "seed": seed, "solved_at": h["solved_at_env_steps"],
            "env_steps": int(h["env_steps"][-1]), "budget": cfg["total_timesteps"],
            "threshold": cfg["solved_threshold"], "window": cfg["solved_window"], "cpu_s": round(time.process_time() - cpu0, 2),
            "wall_s": round(time.perf_counter() - wall0, 2), "config": json.loads(json.dumps(cfg))}


def sweep(data: dict, jobs, out: Path, recheck: bool = False, dry_run: bool = False) -> list:
    """Run every (algo, env_id, seed) of ``jobs`` that ``data`` lacks or holds stale (:func:`why_rerun`),
    replacing the stale record, rewriting ``out`` after each run. Returns the (algo, env_id, seed, reason)
    that were run (or, with ``dry_run``, would be)."""
    ran = []
    for algo, env_id, seed in jobs:
        old = [r for r in data["records"] if (r["algo"], r["env_id"], r["seed"]) == (algo, env_id, seed)]
        reason = "missing" if not old else why_rerun(old[-1], default_config(algo, env_id), recheck)
        if reason is None:
            continue
        ran.append((algo, env_id, seed, reason))
        print(f"{algo} {env_id} seed {seed}: {'would run' if dry_run else 'running'} ({reason})", flush=True)
        if dry_run:
            continue
        rec = run_one(algo, env_id, seed)
        data["records"] = [r for r in data["records"] if r not in old] + [rec]
        data["summary"] = summarise(data["records"])
        out.write_text(json.dumps(data, indent=1))
        print(json.dumps(rec), flush=True)
    return ran


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
    parser.add_argument("--recheck", action="store_true",
                        help="also re-run records that carry no config (made before configs were stored)")
    parser.add_argument("--dry-run", action="store_true", help="list what would run, and why; train nothing")
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
    data["description"] = ("Each trainer with cfg=None (its per-environment defaults), seeds never used for tuning. "
                           "A record's 'config' is the config it ran with (records without one predate that field). "
                           "Made by python -m lmrl_course.scripts.make_rl_defaults_table.")
    from lmrl_course.device import cpu_name
    data["machine"] = f"{cpu_name()}, 1 torch thread, torch {torch.__version__.split('+')[0]}"
    if args.merge:
        args.out.write_text(json.dumps(data, indent=1))
    jobs = [(algo, env_id, seed) for algo in args.algos for env_id in (args.envs or PLAN[algo]) for seed in args.seeds]
    sweep(data, jobs, args.out, recheck=args.recheck, dry_run=args.dry_run)
    for row in summarise(data["records"]):
        print(row)


if __name__ == "__main__":
    main()
