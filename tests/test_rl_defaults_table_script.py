"""make_rl_defaults_table: records carry the config they ran with, and a stale row (its config is not
today's default) is re-run instead of skipped. The trainer / runner is replaced by a fake: no training."""
import dataclasses
import json
import statistics

import pytest

import lmrl_course.scripts.make_rl_defaults_table as table
from lmrl_course.rl import PPOConfig, ReinforceConfig, TRPOConfig

CLASSES = {"ppo": PPOConfig, "trpo": TRPOConfig, "reinforce": ReinforceConfig}


def as_stored(cfg):
    """The JSON form of a config written by hand: asdict, tuples as lists."""
    d = dataclasses.asdict(cfg)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


@pytest.mark.parametrize("algo,env_id", [("ppo", "Acrobot-v1"), ("trpo", "CartPole-v1"), ("reinforce", "Pendulum-v1")])
def test_run_one_stores_the_resolved_config(algo, env_id, monkeypatch):
    calls = []

    def fake_train(env, cfg, device, seed, stop_when_solved):
        calls.append((env, cfg, seed))
        resolved = CLASSES[algo].for_env(env) if cfg is None else cfg       # what the trainers' resolve_config does
        return {"config": dataclasses.asdict(resolved), "solved_at_env_steps": 1234, "env_steps": [1000, 2000]}

    monkeypatch.setattr(table, "trainer", lambda a: fake_train)
    rec = table.run_one(algo, env_id, 105)
    assert calls == [(env_id, None, 105)]                                  # the default: cfg=None
    assert rec["config"] == as_stored(CLASSES[algo].for_env(env_id))
    assert json.loads(json.dumps(rec)) == rec                              # JSON-ready as it is
    assert (rec["solved_at"], rec["env_steps"], rec["budget"]) == (1234, 2000, CLASSES[algo].for_env(env_id).total_timesteps)


def record(seed, config="current", **extra):
    r = {"algo": "ppo", "env_id": "CartPole-v1", "seed": seed, "solved_at": 10_000 + seed, "env_steps": 10_000 + seed,
         "budget": 1, "threshold": 475.0, "window": 20, "cpu_s": 1.0, "wall_s": 1.0, "old": True, **extra}
    if config == "current":
        r["config"] = as_stored(PPOConfig.for_env("CartPole-v1"))
    elif config is not None:
        r["config"] = config
    return r


@pytest.fixture
def fake_runner(monkeypatch):
    ran = []

    def fake_run_one(algo, env_id, seed):
        ran.append((algo, env_id, seed))
        return {"algo": algo, "env_id": env_id, "seed": seed, "solved_at": 500 + seed, "env_steps": 500 + seed,
                "budget": 1, "threshold": 475.0, "window": 20, "cpu_s": 2.0, "wall_s": 2.0,
                "config": as_stored(PPOConfig.for_env(env_id)), "old": False}

    monkeypatch.setattr(table, "run_one", fake_run_one)
    return ran


@pytest.mark.parametrize("recheck", [False, True])
def test_sweep_reruns_stale_and_missing_rows_only(recheck, fake_runner, tmp_path):
    changed = dict(as_stored(PPOConfig.for_env("CartPole-v1")), lr=PPOConfig.for_env("CartPole-v1").lr * 2)
    renamed = as_stored(PPOConfig.for_env("CartPole-v1"))
    renamed["a_field_that_no_longer_exists"] = renamed.pop("lr")
    data = {"records": [record(100),                         # current: skipped
                        record(101, config=changed),         # a default changed since: stale
                        record(102, config=None),            # made before configs were stored
                        record(104, config=renamed)]}        # a field added / removed: stale too
    out = tmp_path / "table.json"
    jobs = [("ppo", "CartPole-v1", s) for s in (100, 101, 102, 103, 104)]
    ran = table.sweep(data, jobs, out, recheck=recheck)
    expected = [101, 102, 103, 104] if recheck else [101, 103, 104]
    assert fake_runner == [("ppo", "CartPole-v1", s) for s in expected]
    assert [r[2] for r in ran] == expected
    assert "lr" in ran[0][3] and ("missing" in [r[3] for r in ran if r[2] == 103][0])
    by_seed = {}
    for r in data["records"]:
        by_seed.setdefault(r["seed"], []).append(r)
    assert sorted(by_seed) == [100, 101, 102, 103, 104] and all(len(v) == 1 for v in by_seed.values())  # replaced, not added
    assert by_seed[100][0]["old"] and by_seed[102][0]["old"] != recheck
    assert not by_seed[101][0]["old"] and not by_seed[103][0]["old"] and not by_seed[104][0]["old"]
    saved = json.loads(out.read_text())
    assert saved["records"] == data["records"]
    (row,) = saved["summary"]
    assert row["runs"] == 5 and row["median_steps"] == statistics.median([r["solved_at"] for r in data["records"]])
    # a second sweep finds nothing stale (records without config stay unchecked without --recheck)
    fake_runner.clear()
    assert table.sweep(data, jobs, out, recheck=False) == [] and fake_runner == []


def test_dry_run_trains_nothing_and_writes_nothing(fake_runner, tmp_path):
    data = {"records": [record(100, config=None)]}
    out = tmp_path / "table.json"
    ran = table.sweep(data, [("ppo", "CartPole-v1", 100), ("ppo", "CartPole-v1", 101)], out, recheck=True, dry_run=True)
    assert [r[2] for r in ran] == [100, 101] and fake_runner == [] and not out.exists()
    assert data["records"] == [record(100, config=None)]


def test_why_rerun_names_the_changed_fields():
    current = as_stored(TRPOConfig.for_env("Acrobot-v1"))
    assert table.why_rerun({"config": dict(current)}, current) is None
    stale = dict(current, max_kl=0.5, num_envs=3)
    assert table.why_rerun({"config": stale}, current) == "config changed: max_kl, num_envs"
    assert table.why_rerun({}, current) is None
    assert "no stored config" in table.why_rerun({}, current, recheck=True)
    assert table.default_config("trpo", "Acrobot-v1") == current
