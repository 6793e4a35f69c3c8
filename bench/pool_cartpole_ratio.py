"""Pool several ``bench_cartpole.py --sb3 --out`` files: medians over all their seeds, the ratio of the
medians (course / SB3-zoo), and a bootstrap interval for that ratio.

A ratio of medians over 10 seeds moves a lot from one set of seeds to the next (CartPole-v1, the course's
``cfg=None`` PPO against SB3-zoo: 0.69x on seeds 100-109, 0.56x on 110-119, 0.66x on 120-129), so the issue's
goal (<= 0.6x) is judged on the pooled seeds, with the interval printed beside it::

    python bench/pool_cartpole_ratio.py bench/results/ppo_vs_sb3zoo_cartpole_heldout.json \\
        bench/results/ppo_vs_sb3zoo_cartpole_heldout_seeds110-119.json \\
        bench/results/ppo_vs_sb3zoo_cartpole_heldout_seeds120-129.json

The bootstrap resamples the seeds of each side independently (``--resamples`` times, seeded), and the
interval is the central ``--level`` of the resampled ratios. Only seeds that both sides ran are used; an
unsolved run has no step count, so any unsolved run is reported and makes the pooled verdict "not solved".
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path


def load(paths, env_id):
    course, sb3 = {}, {}
    for p in paths:
        for r in json.loads(Path(p).read_text())["records"]:
            if r["env_id"] != env_id or r.get("algo") not in ("ppo", "sb3-zoo-ppo"):
                continue
            side = course if r["side"] == "course" else sb3
            if r["seed"] in side:
                raise SystemExit(f"seed {r['seed']} appears twice on the {r['side']} side ({p})")
            side[r["seed"]] = r["solved_at"]
    seeds = sorted(set(course) & set(sb3))
    if not seeds:
        raise SystemExit(f"no seed with both a course and an SB3-zoo run of {env_id} in {list(map(str, paths))}")
    return seeds, [course[s] for s in seeds], [sb3[s] for s in seeds]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--env", default="CartPole-v1")
    p.add_argument("--resamples", type=int, default=10_000)
    p.add_argument("--level", type=float, default=0.9)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    seeds, course, sb3 = load(args.files, args.env)
    unsolved = {side: [s for s, v in zip(seeds, vals) if v is None] for side, vals in (("course", course), ("sb3-zoo", sb3))}
    print(f"{args.env}: {len(seeds)} seeds ({seeds[0]}-{seeds[-1]}) | unsolved: {unsolved}")
    if any(unsolved.values()):
        print("not every run solved: no pooled ratio")
        return
    mc, ms = statistics.median(course), statistics.median(sb3)
    rng = random.Random(args.seed)
    ratios = sorted(statistics.median(rng.choices(course, k=len(course))) /
                    statistics.median(rng.choices(sb3, k=len(sb3))) for _ in range(args.resamples))
    lo = ratios[int((1 - args.level) / 2 * args.resamples)]
    hi = ratios[int((1 + args.level) / 2 * args.resamples) - 1]
    per_seed = statistics.median(c / s for c, s in zip(course, sb3))
    print(f"course  median {mc:>8.0f}  range {min(course)}-{max(course)}")
    print(f"sb3-zoo median {ms:>8.0f}  range {min(sb3)}-{max(sb3)}")
    print(f"ratio of the medians {mc / ms:.3f}x | {args.level:.0%} bootstrap interval {lo:.3f}-{hi:.3f} "
          f"| share of resamples <= 0.6: {sum(r <= 0.6 for r in ratios) / len(ratios):.1%} "
          f"| median of the per-seed ratios {per_seed:.3f}")


if __name__ == "__main__":
    main()
