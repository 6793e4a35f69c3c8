"""The mutation suite of the exercise system: for every registered exercise, wrong answers FAIL and
valid alternative formulations PASS.

Two kinds of answers:
- exercise-specific ones, written by hand in ``tests/answers/<name>.py`` (``WRONG`` and ``VALID`` dicts of
  exercise-cell sources; see the README there): realistic mistakes and other correct formulations;
- generic wrong ones built here for every exercise from its reference: it mutates an input in place,
  exits, swallows the time limit, monkeypatches torch to fool the comparison, returns the wrong dtype,
  loses float64 precision, cuts the gradient (where gradients are checked), raises NotImplementedError
  half-way, and the false PASS of the Check button after the notebook rebinds the name.
"""
from __future__ import annotations

import ast
import dataclasses
import importlib.util
import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from lmrl_course.exercises import FAIL, NOT_ATTEMPTED, PASS, Exercise, all_exercises, check, run_check
from lmrl_course.exercises.core import _clone

ANSWERS = Path(__file__).resolve().parent / "answers"
EXERCISES = all_exercises()
NAMES = sorted(EXERCISES)


def load_answers(name: str):
    path = ANSWERS / f"{name}.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(f"answers_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def learner_namespace(exercise: Exercise) -> dict:
    """What an exercise cell sees in its notebook: torch, nn, F, math, np and earlier definitions."""
    ns = {"torch": torch, "nn": nn, "F": F, "math": math, "np": np, "__name__": "__main__"}
    if exercise.solution_globals:
        ns.update(exercise.solution_globals())
    return ns


def define(source: str, exercise: Exercise, ns: dict | None = None):
    """Run an exercise-cell source like a notebook cell and return the last function it defines."""
    ns = learner_namespace(exercise) if ns is None else ns
    tree = ast.parse(source)
    names = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    assert names, f"answer defines no function:\n{source}"
    exec(compile(source, "<exercise cell>", "exec"), ns)
    return ns[names[-1]]


def with_limit(exercise: Exercise, seconds: float) -> Exercise:
    return dataclasses.replace(exercise, time_limit_s=seconds)


# ---------------------------------------------------------------- the answer files themselves

@pytest.mark.parametrize("name", NAMES)
def test_every_exercise_has_enough_specific_answers(name):
    answers = load_answers(name)
    assert answers is not None, f"tests/answers/{name}.py is missing (see tests/answers/README.md)"
    assert len(answers.WRONG) >= 3, f"{name}: at least 3 specific WRONG answers, found {len(answers.WRONG)}"
    assert len(answers.VALID) >= 2, f"{name}: at least 2 VALID answers, found {len(answers.VALID)}"


def _specific(kind):
    params = []
    for name in NAMES:
        answers = load_answers(name)
        if answers is None:
            continue
        for label in getattr(answers, kind):
            params.append(pytest.param(name, label, id=f"{name}: {label[:60]}"))
    return params


@pytest.mark.parametrize("name, label", _specific("WRONG"))
def test_specific_wrong_answer_fails(name, label):
    ex = EXERCISES[name]
    fn = define(load_answers(name).WRONG[label], ex)
    result = run_check(ex, fn)
    assert result.status == FAIL, f"{name} / {label}: expected FAIL, got\n{result.text}"


@pytest.mark.parametrize("name, label", _specific("VALID"))
def test_specific_valid_answer_passes(name, label):
    ex = EXERCISES[name]
    fn = define(load_answers(name).VALID[label], ex)
    result = run_check(ex, fn)
    assert result.status == PASS, f"{name} / {label}: expected PASS, got\n{result.text}"


# ---------------------------------------------------------------- generic wrong answers

def _first_tensor_arg(args):
    for a in args:
        if isinstance(a, torch.Tensor):
            return a
    return None


def wrong_in_place(ref):
    """Right values, but the first tensor argument (or a config's field) is changed in place."""
    def answer(*args, **kwargs):
        out = ref(*_clone(args), **_clone(kwargs))
        t = _first_tensor_arg(args)
        if t is not None:
            with torch.no_grad():
                if t.dtype == torch.bool:
                    t.logical_not_()
                else:
                    t.add_(1)
        elif args and dataclasses.is_dataclass(args[0]):
            field = next(f.name for f in dataclasses.fields(args[0]) if isinstance(getattr(args[0], f.name), int))
            setattr(args[0], field, getattr(args[0], field) + 1)
        return out
    return answer


def wrong_exits(ref):
    def answer(*args, **kwargs):
        import sys
        out = ref(*args, **kwargs)
        sys.exit(0)
        return out
    return answer


def wrong_swallows_time_limit(ref):
    def answer(*args, **kwargs):
        while True:
            try:
                pass
            except:  # noqa: E722 - the point: a bare except that catches the time limit
                pass
    return answer


def wrong_monkeypatches(ref):
    """Returns garbage after patching torch so that a naive comparison would call it equal."""
    def answer(*args, **kwargs):
        out = ref(*args, **kwargs)
        torch.Tensor.__sub__ = lambda a, b: torch.zeros_like(a)
        torch.Tensor.abs = lambda a: torch.zeros_like(a)
        torch.isfinite = lambda a: torch.ones_like(a, dtype=torch.bool)
        torch.equal = lambda a, b: True
        torch.set_default_dtype(torch.float64)

        def garbage(x):
            if isinstance(x, torch.Tensor):
                return torch.full_like(x, 7) if not x.dtype == torch.bool else ~x
            if isinstance(x, (tuple, list)):
                return type(x)(garbage(y) for y in x)
            if isinstance(x, (int, float)) and not isinstance(x, bool):
                return x + 7
            return x
        return garbage(out)
    return answer


def wrong_dtype(ref):
    def answer(*args, **kwargs):
        def cast(x):
            if isinstance(x, torch.Tensor):
                return x.double() if x.dtype != torch.float64 else x.float()
            if isinstance(x, (tuple, list)):
                return type(x)(cast(y) for y in x)
            return x
        return cast(ref(*args, **kwargs))
    return answer


def wrong_float32_inside(ref):
    """Computes in float32 and casts back: precision lost in the float64 cases."""
    def answer(*args, **kwargs):
        def down(x):
            if isinstance(x, torch.Tensor) and x.dtype == torch.float64:
                return x.float()
            if isinstance(x, (tuple, list)):
                return type(x)(down(y) for y in x)
            return x

        def up(x):
            if isinstance(x, torch.Tensor) and x.dtype == torch.float32:
                return x.double()
            if isinstance(x, (tuple, list)):
                return type(x)(up(y) for y in x)
            return x
        is64 = any(isinstance(a, torch.Tensor) and a.dtype == torch.float64 for a in list(args) + list(kwargs.values()))
        out = ref(*down(args), **{k: down(v) for k, v in kwargs.items()})
        return up(out) if is64 else out
    return answer


def wrong_detached(ref):
    def answer(*args, **kwargs):
        out = ref(*args, **kwargs)
        if isinstance(out, torch.Tensor):
            return out.detach()
        return type(out)(o.detach() if isinstance(o, torch.Tensor) else o for o in out)
    return answer


def wrong_unfinished(ref):
    """A written answer with a helper still unwritten: FAIL, not NOT ATTEMPTED."""
    def helper(x):
        raise NotImplementedError

    def answer(*args, **kwargs):
        out = ref(*args, **kwargs)
        helper(out)
        return out
    return answer


def _has_float64_case(ex):
    def is64(x):
        if isinstance(x, torch.Tensor):
            return x.dtype == torch.float64
        if isinstance(x, (tuple, list)):
            return any(is64(y) for y in x)
        return False
    return any(is64(c.args) or is64(tuple(c.kwargs.values())) for c in ex.make_cases())


def _returns_tensor(ex):
    c = ex.make_cases()[0]
    out = ex.reference(*_clone(c.args), **_clone(c.kwargs))
    return isinstance(out, torch.Tensor) or (isinstance(out, (tuple, list)) and any(isinstance(o, torch.Tensor) for o in out))


def _has_mutable_input(ex):
    c = ex.make_cases()[0]
    return _first_tensor_arg(c.args) is not None or (c.args and dataclasses.is_dataclass(c.args[0]))


GENERIC = {
    "mutates an input in place": (wrong_in_place, _has_mutable_input),
    "calls sys.exit()": (wrong_exits, None),
    "endless loop with a bare except that swallows the time limit": (wrong_swallows_time_limit, None),
    "monkeypatches torch so that any comparison looks equal, returns garbage": (wrong_monkeypatches, None),
    "returns the wrong dtype": (wrong_dtype, _returns_tensor),
    "computes in float32 inside the float64 cases": (wrong_float32_inside, _has_float64_case),
    "cuts the gradient with .detach()": (wrong_detached, lambda ex: ex.check_grad),
    "a helper still raises NotImplementedError": (wrong_unfinished, None),
}


def _generic_params():
    params = []
    for name in NAMES:
        ex = EXERCISES[name]
        for label, (make, applies) in GENERIC.items():
            if applies is None or applies(ex):
                params.append(pytest.param(name, label, id=f"{name}: {label}"))
    return params


@pytest.mark.parametrize("name, label", _generic_params())
def test_generic_wrong_answer_fails(name, label):
    ex = EXERCISES[name]
    if "time limit" in label:
        ex = with_limit(ex, 0.3)
    fn = GENERIC[label][0](ex.reference)
    before = (torch.get_default_dtype(), torch.Tensor.__sub__, torch.isfinite, torch.equal)
    t0 = time.monotonic()
    result = run_check(ex, fn)
    assert result.status == FAIL, f"{name} / {label}: expected FAIL, got\n{result.text}"
    assert (torch.get_default_dtype(), torch.Tensor.__sub__, torch.isfinite, torch.equal) == before
    assert time.monotonic() - t0 < 60


@pytest.mark.parametrize("name", NAMES)
def test_every_exercise_gets_at_least_five_generic_wrong_answers(name):
    ex = EXERCISES[name]
    n = sum(1 for _, applies in GENERIC.values() if applies is None or applies(ex))
    assert n + 1 >= 5  # + the rebinding test below, which runs for every exercise


# ---------------------------------------------------------------- the Check button after rebinding

@pytest.mark.parametrize("name", NAMES)
def test_check_button_never_checks_the_reference_after_the_notebook_rebinds_the_name(name):
    """Notebooks do `name = result.function` after the check cell: Check must still check the learner's
    own (here: untouched, then wrong) definition, never the reference that the name now holds."""
    ex = EXERCISES[name]
    ns = learner_namespace(ex)
    exec(f"def {name}(*args, **kwargs):\n    raise NotImplementedError\n", ns)
    result = check(name, ns[name])
    assert result.status == NOT_ATTEMPTED
    widget = result.widget
    ns[name] = result.function                      # the notebook moves on with the reference
    assert ns[name] is ex.reference
    widget.check_button.click()
    assert result.status == NOT_ATTEMPTED, result.text
    assert "[PASS]" not in widget.verdict.value

    exec(f"def {name}(*args, **kwargs):\n    return 42\n", ns)   # the learner edits and re-runs the cell
    from lmrl_course.exercises.widget import _after_cell
    _after_cell()                                   # what IPython's post_run_cell hook does
    ns[name] = result.function                      # ... and re-runs the cell that rebinds the name
    widget.check_button.click()
    assert result.status == FAIL, result.text
