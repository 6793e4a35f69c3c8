"""Notebook 07's live CartPole run, PPOConfig(total_timesteps=25_000, **cfg) without early stop, seeds 0-4.

    .venv/bin/python bench/check_07_live_cartpole.py '{}'                    # as 07 runs it today
    .venv/bin/python bench/check_07_live_cartpole.py '{"norm_obs": true}'    # the bench candidate
"""
import sys, json, time, torch, numpy as np
from lmrl_course.rl import PPOConfig, train_ppo
torch.set_num_threads(1)
ov = json.loads(sys.argv[1])
for seed in range(5):
    c0 = time.process_time()
    h = train_ppo("CartPole-v1", PPOConfig(total_timesteps=25_000, **ov), device="cpu", seed=seed)
    r = np.array(h["episode_returns"])
    print(json.dumps({"cfg": ov, "seed": seed, "solved_at": h["solved_at_env_steps"], "last20": round(float(r[-20:].mean()), 1),
                      "episodes": len(r), "cpu_s": round(time.process_time() - c0, 2)}), flush=True)
