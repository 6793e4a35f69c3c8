"""The asset script's command lines against the stored assets: with no options, each ``--only`` task plans exactly the
runs its stored file holds (β values, seeds, updates, learning rate), so one command regenerates each file whole.
No training: :func:`plan` only reads the arguments. guards: ``--sweep-seeds`` defaulting to seed 0 alone (a plain
``--only sweep`` would overwrite the 3-seed asset with one seed); the pilot left out of ``--only length``."""
import json

import pytest

from lmrl_course.paths import ASSETS_DIR
from lmrl_course.scripts import make_rlhf_assets as mra


def stored(name):
    return json.loads((ASSETS_DIR / name).read_text())


def steps(*argv):
    return {st["task"]: st for st in mra.plan(mra.parse_args(list(argv)))}


@pytest.mark.parametrize("argv", [(), ("--only", "sweep")])
def test_sweep_defaults_reproduce_the_stored_sweep(argv):
    sweep = stored("rlhf_beta_sweep.json")
    st = steps(*argv)["sweep"]
    assert sorted(st["runs"]) == sorted((r["kl_coef"], r["seed"]) for r in sweep["runs"])
    assert len(st["runs"]) == len(sweep["runs"]) == 15
    assert st["updates"] == sweep["ppo"]["updates"] == len(sweep["runs"][0]["history"]["update"])
    assert mra.SWEEP_LR == sweep["ppo"]["lr"] and not st["append"]
    assert st["path"] == ASSETS_DIR / "rlhf_beta_sweep.json"


@pytest.mark.parametrize("argv", [(), ("--only", "length")])
def test_length_defaults_reproduce_the_stored_length_file_with_its_pilot(argv):
    pilot_runs = stored("rlhf_length.json")["length_neutral"]["pilot_runs"]
    plan = steps(*argv)
    assert plan["length"]["path"] == plan["pilot"]["path"] == ASSETS_DIR / "rlhf_length.json"
    order = [s["task"] for s in mra.plan(mra.parse_args(list(argv)))]
    assert order.index("length") < order.index("pilot"), "the pilot reads the length study's reward model"
    assert sorted(plan["pilot"]["runs"]) == sorted((r["kl_coef"], r["seed"]) for r in pilot_runs)
    assert {r["updates"] for r in pilot_runs} == {plan["pilot"]["updates"]}


@pytest.mark.parametrize("argv", [(), ("--only", "length"), ("--only", "klnorm")])
def test_klnorm_defaults_reproduce_the_stored_runs(argv):
    stored_kl = stored("rlhf_length.json")["kl_length_ref"]
    st = steps(*argv)["klnorm"]
    assert st["path"] == ASSETS_DIR / "rlhf_length.json" and st["merge"]
    assert sorted(st["runs"]) == sorted((r["kl_coef"], r["seed"]) for r in stored_kl["runs"])
    assert st["length_ref"] == stored_kl["length_ref"] == mra.KL_LENGTH_REF
    assert {r["updates"] for r in stored_kl["runs"]} == {st["updates"]}
    comp_ppo = sorted(r["seed"] for r in stored("rlhf_method_comparison.json")["runs"] if r["method"] == "ppo")
    assert sorted(s for _, s in st["runs"]) == comp_ppo  # the same seeds as the PPO runs it is set against


def test_compare_defaults_reproduce_the_stored_comparison():
    comp = stored("rlhf_method_comparison.json")
    plan = steps("--only", "compare")
    assert set(plan) == {"compare", "summary"}
    assert plan["compare"]["seeds"] == comp["seeds"] == sorted({r["seed"] for r in comp["runs"]})
    assert plan["compare"]["updates"] == comp["updates"]


def test_full_run_plans_every_file_once_in_order():
    assert [s["task"] for s in mra.plan(mra.parse_args([]))] == ["length", "pilot", "klnorm", "sweep", "compare",
                                                                 "summary"]
    assert set(steps("--only", "klnorm")) == {"klnorm"}
    assert set(steps("--only", "summary")) == {"summary"}
    assert set(steps("--only", "pilot")) == {"pilot"}


def test_partial_work_options():
    st = steps("--only", "sweep", "--append", "--betas", "0.05", "0.1", "--sweep-seeds", "3")["sweep"]
    assert st["runs"] == [(0.05, 3), (0.1, 3)] and st["append"]
    assert steps("--only", "pilot", "--betas", "0.1", "--sweep-seeds", "4")["pilot"]["runs"] == [(0.1, 4)]
    # the sweep's options do not leak into the pilot of a full run
    assert sorted(steps("--betas", "0.1", "--sweep-seeds", "4")["pilot"]["runs"]) == sorted(
        (b, s) for b in mra.PILOT_BETAS for s in mra.PILOT_SEEDS)
    assert steps("--only", "sweep", "--updates", "3")["sweep"]["updates"] == 3


def test_dry_run_prints_the_plan_without_training(capsys):
    mra.main(["--dry-run", "--only", "length"])
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == ["task=length", "task=pilot", "task=klnorm"]


def test_the_stored_length_study_used_the_course_annotator():
    """The assets were made with the annotator the notebooks use (vowels inside words of the play only): a stale
    asset made with the plain vowel share would say ``VowelAnnotator(...)`` without a vocabulary."""
    from lmrl_course.data import load_text
    from lmrl_course.rlhf import course_annotator

    assert stored("rlhf_length.json")["course"]["annotator"] == repr(course_annotator(load_text()))
