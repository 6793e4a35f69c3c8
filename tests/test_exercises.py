"""The exercise system: verdicts for right, wrong and half-written answers; the widget driven headlessly."""
import math

import pytest
import torch

from lmrl_course.exercises import (FAIL, NOT_ATTEMPTED, PASS, Case, Exercise, all_exercises, check,
                                   compare_outputs, get_exercise)
from lmrl_course.exercises.widget import ExerciseWidget


# ---------------------------------------------------------------- the warm-up checker

def right(z, dim=-1):
    m = z.max(dim=dim, keepdim=True).values
    e = (z - m).exp()
    return e / e.sum(dim=dim, keepdim=True)


def wrong_axis(z, dim=-1):
    return torch.softmax(z, dim=0)


def no_max_subtraction(z, dim=-1):
    e = z.exp()
    return e / e.sum(dim=dim, keepdim=True)


def wrong_dtype(z, dim=-1):
    return torch.softmax(z.float(), dim=dim)


def off_by_one(z, dim=-1):
    return torch.softmax(z, dim=dim)[..., 1:]


def off_by_one_denominator(z, dim=-1):
    e = (z - z.amax(dim=dim, keepdim=True)).exp()
    return e / (e.sum(dim=dim, keepdim=True) + 1)


def test_reference_passes():
    result = check("stable_softmax", right)
    assert result.status == PASS and result.passed and bool(result)
    assert result.function is right
    assert result.max_abs_error < 1e-6
    assert str(result).startswith("[PASS] stable_softmax")


@pytest.mark.parametrize("fn, fragment", [
    (wrong_axis, "case 1/6 (random logits, shape (4, 7)): output differs from the reference: max abs error"),
    (no_max_subtraction, "contains nan at index (0, 0) where the reference is 1 (overflow? subtract the max"),
    (wrong_dtype, "has dtype torch.float32, expected torch.float64"),
    (off_by_one, "has shape (4, 6), expected (4, 7)"),
    (off_by_one_denominator, "max abs error"),
])
def test_wrong_versions_fail_with_the_right_message(fn, fragment):
    result = check("stable_softmax", fn)
    assert result.status == FAIL
    assert fragment in result.message, result.message
    assert result.function is get_exercise("stable_softmax").reference  # the notebook carries on


def test_no_max_subtraction_passes_small_cases_and_fails_only_on_overflow_case():
    result = check("stable_softmax", no_max_subtraction)
    assert "case 4/6 (huge logits" in result.message


def test_wrong_axis_reports_expected_and_got_values():
    msg = check("stable_softmax", wrong_axis).message
    assert "expected" in msg and "got" in msg and "at index" in msg


# ---------------------------------------------------------------- half-written answers

def not_attempted(z, dim=-1):
    raise NotImplementedError


def returns_none(z, dim=-1):
    z.exp()


def raises(z, dim=-1):
    return z.nonexistent_method()


def endless(z, dim=-1):
    while True:
        pass


def returns_list(z, dim=-1):
    return torch.softmax(z, dim).tolist()


def returns_nan(z, dim=-1):
    return torch.full_like(z, float("nan"))


def swallows_everything(z, dim=-1):
    try:
        while True:
            pass
    except Exception:
        return torch.softmax(z, dim)


@pytest.mark.parametrize("fn, status, fragment", [
    (not_attempted, NOT_ATTEMPTED, "not attempted yet"),
    (returns_none, FAIL, "did you forget the `return` statement?"),
    (raises, FAIL, "raised AttributeError: 'Tensor' object has no attribute 'nonexistent_method'"),
    (returns_list, FAIL, "should be a torch.Tensor, got list"),
    (returns_nan, FAIL, "contains nan"),
    (None, NOT_ATTEMPTED, "nothing to check"),
    (42, FAIL, "pass your function itself"),
])
def test_half_written_answers_get_a_verdict(fn, status, fragment):
    result = check("stable_softmax", fn)
    assert result.status == status
    assert fragment in result.message, result.message
    assert "reference implementation" in result.text


@pytest.mark.parametrize("fn", [endless, swallows_everything])
def test_endless_loop_is_stopped_by_the_time_limit(fn):
    ex = get_exercise("stable_softmax")
    quick = Exercise(**{**ex.__dict__, "time_limit_s": 0.3})
    result = check(quick, fn)
    assert result.status == FAIL
    assert "did not finish within 0.3 s" in result.message


def test_time_limit_also_works_off_the_main_thread():
    import threading
    ex = get_exercise("stable_softmax")
    quick = Exercise(**{**ex.__dict__, "time_limit_s": 0.3})
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("r", check(quick, endless)))
    t.start()
    t.join(10)
    assert box["r"].status == FAIL and "did not finish" in box["r"].message


def test_learner_function_cannot_mutate_the_reference_inputs():
    def mutating(z, dim=-1):
        z.mul_(0)
        return torch.softmax(z, dim)
    result = check("stable_softmax", mutating)
    assert result.status == FAIL
    assert "changed its input `z` in place" in result.message


# ---------------------------------------------------------------- gradients

def _square_exercise():
    return Exercise(
        name="square_sum", title="x²", reference=lambda x: x * x,
        cases=lambda g: [Case("random (3,)", (torch.randn(3, generator=g, dtype=torch.float64),))],
        hints=["multiply"], solution="def f(x):\n    return x * x\n", check_grad=True)


def test_gradient_check_accepts_right_and_catches_detached_or_wrong_gradient():
    ex = _square_exercise()
    assert check(ex, lambda x: x ** 2).passed
    detached = check(ex, lambda x: torch.tensor((x * x).tolist(), dtype=torch.float64))
    assert detached.status == FAIL and "no gradient path" in detached.message

    class WrongGrad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x  # should be 2x
    wrong = check(ex, WrongGrad.apply)
    assert wrong.status == FAIL and "gradient" in wrong.message and "max abs error" in wrong.message


# ---------------------------------------------------------------- comparison helper

def test_compare_outputs_cases():
    t = torch.tensor([1.0, 2.0])
    assert compare_outputs(t, t.clone(), 1e-6, 0)[0] is None
    assert "shape" in compare_outputs(t, t[:1], 1e-6, 0)[0]
    assert "dtype" in compare_outputs(t, t.double(), 1e-6, 0)[0]
    assert compare_outputs(t, t.double(), 1e-6, 0, check_dtype=False)[0] is None
    problem, err = compare_outputs(t, t + 0.5, 1e-6, 0)
    assert "max abs error 0.5" in problem and math.isclose(err, 0.5)
    assert compare_outputs((t, 3.0), (t, 3.0), 1e-6, 0)[0] is None
    assert "items" in compare_outputs((t, t), (t,), 1e-6, 0)[0]
    assert "expected 3" in compare_outputs(3.0, 4.0, 1e-6, 0)[0]
    inf = torch.tensor([float("-inf"), 0.0])
    assert compare_outputs(inf, inf.clone(), 1e-6, 0)[0] is None
    assert compare_outputs(inf, torch.tensor([0.0, 0.0]), 1e-6, 0)[0] is not None
    ints = torch.tensor([1, 2, 3])
    assert "index (2,)" in compare_outputs(ints, torch.tensor([1, 2, 4]), 0, 0)[0]


# ---------------------------------------------------------------- registry

def solution_namespace():
    """What every notebook has imported before its exercises (see CONTRIBUTING.md)."""
    import numpy as np
    import torch.nn as nn
    import torch.nn.functional as F
    return {"torch": torch, "nn": nn, "F": F, "math": math, "np": np}


def test_unknown_exercise_lists_known_names():
    with pytest.raises(KeyError, match="stable_softmax"):
        get_exercise("no_such_exercise")


def test_every_registered_solution_passes_its_own_checker():
    """A checker that can never pass is caught here (the notebook-level run is tests/test_solutions.py)."""
    for name, ex in all_exercises().items():
        namespace = dict(ex.solution_globals()) if ex.solution_globals else {}  # what its notebook defined before
        exec(compile(ex.solution, f"<solution {name}>", "exec"), namespace)
        funcs = [v for k, v in namespace.items() if callable(v) and not k.startswith("_")
                 and getattr(v, "__module__", None) is None]
        assert funcs, f"solution of {name} defines no function"
        result = check(ex, funcs[-1])
        assert result.passed, f"{name}: {result.text}"


def test_every_exercise_has_cases_and_several_hints():
    for name, ex in all_exercises().items():
        assert len(ex.make_cases()) >= 2, name
        assert len(ex.hints) >= 2, name


# ---------------------------------------------------------------- the widget, headless

def test_widget_check_hint_and_solution_buttons():
    namespace = {}
    exec("def stable_softmax(z, dim=-1):\n    raise NotImplementedError\n", namespace)
    result = check("stable_softmax", namespace["stable_softmax"])
    w = result.widget
    assert isinstance(w, ExerciseWidget)
    assert "[NOT ATTEMPTED]" in w.verdict.value and repr(w).startswith("[NOT ATTEMPTED]")

    # the learner edits and re-runs the cell: Check picks up the new definition
    exec("import torch\ndef stable_softmax(z, dim=-1):\n    return torch.softmax(z, dim=0)\n", namespace)
    w.check_button.click()
    assert "[FAIL]" in w.verdict.value and "max abs error" in w.verdict.value
    assert result.status == FAIL and result.function is get_exercise("stable_softmax").reference

    exec("def stable_softmax(z, dim=-1):\n    e = (z - z.amax(dim, keepdim=True)).exp()\n"
         "    return e / e.sum(dim, keepdim=True)\n", namespace)
    w.check_button.click()
    assert "[PASS]" in w.verdict.value and result.passed
    assert result.function is namespace["stable_softmax"]

    n = len(result.exercise.hints)
    assert w.hints.value == ""
    w.hint_button.click()
    assert w.hints.value.count("<li>") == 1 and w.hint_button.description == f"Hint (1/{n})"
    for _ in range(n + 2):
        w.hint_button.click()
    assert w.hints.value.count("<li>") == n and w.hint_button.disabled

    w.solution_button.click()
    assert "amax" in w.solution.value and w.solution_button.description == "Hide solution"
    w.solution_button.click()
    assert w.solution.value == ""


def test_mimebundle_plain_text_is_the_verdict():
    result = check("stable_softmax", wrong_dtype)
    bundle = result._repr_mimebundle_()
    assert bundle["text/plain"] == result.text
    assert "application/vnd.jupyter.widget-view+json" in bundle
