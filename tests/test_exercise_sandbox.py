"""The exercise checker survives anything a learner's function does, and leaves the session as it was.

Every test runs in both sandbox modes: ``fork`` (each check in a forked copy of the process, the
default on Linux) and ``inprocess`` (the fallback elsewhere, guarded by SessionState and CPU-time
limits), so that the fallback is tested on Linux too.
"""
from __future__ import annotations

import dataclasses
import math
import os
import random
import sys
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lmrl_course.exercises import FAIL, NOT_ATTEMPTED, PASS, Case, Exercise, check, compare_outputs, get_exercise
from lmrl_course.exercises.core import is_untouched_stub


@pytest.fixture(params=["fork", "inprocess"])
def mode(request, monkeypatch):
    if request.param == "fork" and not hasattr(os, "fork"):
        pytest.skip("no fork on this system")
    monkeypatch.setenv("LMRL_EXERCISE_SANDBOX", request.param)
    return request.param


def softmax_ok(z, dim=-1):
    e = (z - z.amax(dim, keepdim=True)).exp()
    return e / e.sum(dim, keepdim=True)


def quick(name="stable_softmax", seconds=0.3):
    return dataclasses.replace(get_exercise(name), time_limit_s=seconds)


# ---------------------------------------------------------------- crashes and hangs

def test_sys_exit_is_a_verdict(mode):
    def answer(z, dim=-1):
        sys.exit(1)
    result = check("stable_softmax", answer)
    assert result.status == FAIL and "sys.exit" in result.message


def test_exit_builtin_and_keyboard_interrupt_are_verdicts(mode):
    def exits(z, dim=-1):
        raise SystemExit("bye")

    def interrupts(z, dim=-1):
        raise KeyboardInterrupt
    assert "sys.exit" in check("stable_softmax", exits).message
    assert "interrupted" in check("stable_softmax", interrupts).message


def test_os_exit_and_segfault_in_the_copy_are_verdicts(monkeypatch):
    monkeypatch.setenv("LMRL_EXERCISE_SANDBOX", "fork")

    def hard_exit(z, dim=-1):
        os._exit(0)

    def segfault(z, dim=-1):
        import ctypes
        ctypes.string_at(0)
    assert "ended the process" in check("stable_softmax", hard_exit).message
    assert "crashed" in check("stable_softmax", segfault).message


@pytest.mark.parametrize("nested", [False, True])
def test_loop_swallowing_the_time_limit_ends_in_a_verdict(mode, nested):
    if mode == "inprocess" and nested:
        pytest.skip("in-process, two nested bare-except loops can outlast the limit (documented): the fork sandbox is the default")

    def swallow(z, dim=-1):
        while True:
            try:
                pass
            except:  # noqa: E722
                pass

    def swallow_nested(z, dim=-1):
        while True:
            try:
                while True:
                    try:
                        pass
                    except:  # noqa: E722
                        pass
            except:  # noqa: E722
                pass
    t0 = time.monotonic()
    result = check(quick(), swallow_nested if nested else swallow)
    assert result.status == FAIL and "did not finish within 0.3 s of CPU time" in result.message, result.message
    assert time.monotonic() - t0 < 60


def test_time_limit_counts_cpu_time_not_waiting(mode):
    """A correct answer that is slow only because the machine is busy is not an endless loop: the limit
    is CPU time. Here the answer sleeps (no CPU) for longer than the CPU limit, then answers."""
    def slow_but_right(z, dim=-1):
        time.sleep(0.5)
        return softmax_ok(z, dim)
    result = check(quick(seconds=0.3), slow_but_right)
    assert result.status == PASS, result.text


def test_code_that_waits_forever_is_stopped_by_the_wall_clock_cap(monkeypatch):
    monkeypatch.setenv("LMRL_EXERCISE_SANDBOX", "fork")
    from lmrl_course.exercises import core
    monkeypatch.setattr(core, "wall_limit", lambda ex: 1.0)

    def waits(z, dim=-1):
        time.sleep(3600)
    t0 = time.monotonic()
    result = check(quick(), waits)
    assert result.status == FAIL and "wall-clock" in result.message
    assert time.monotonic() - t0 < 30


def test_input_is_refused_not_waited_for(mode):
    def asks(z, dim=-1):
        input("dim? ")
    result = check("stable_softmax", asks)
    assert result.status == FAIL and "input()" in result.message


def test_exception_whose_str_raises(mode):
    class Nasty(Exception):
        def __str__(self):
            raise RuntimeError("no")

    def answer(z, dim=-1):
        raise Nasty()
    result = check("stable_softmax", answer)
    assert result.status == FAIL and "Nasty" in result.message


@pytest.mark.parametrize("make, fragment", [
    (lambda p: p.to_sparse(), "sparse"),
    (lambda p: torch.nested.nested_tensor([p[0], p[1]], layout=torch.jagged), "nested"),
    (lambda p: [[p]], "should be a torch.Tensor"),
    (lambda p: {"p": p}, "should be a torch.Tensor"),
    (lambda p: np.asarray(p), "should be a torch.Tensor"),
])
def test_odd_outputs_get_a_verdict(mode, make, fragment):
    def answer(z, dim=-1):
        return make(softmax_ok(z, dim))
    result = check("stable_softmax", answer)
    assert result.status == FAIL and fragment in result.message, result.message


def test_tensor_subclass_with_torch_function_is_compared_by_value(mode):
    class Sneaky(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            return True  # every operation "equal"

    def wrong(z, dim=-1):
        return torch.zeros_like(z).as_subclass(Sneaky)
    assert check("stable_softmax", wrong).status == FAIL


# ---------------------------------------------------------------- state restored

def _state():
    return dict(
        dtype=torch.get_default_dtype(), grad=torch.is_grad_enabled(), threads=torch.get_num_threads(),
        det=torch.are_deterministic_algorithms_enabled(), anomaly=torch.is_anomaly_enabled(),
        rec=sys.getrecursionlimit(), torch_rng=torch.get_rng_state(), np_rng=np.random.get_state()[1].copy(),
        py_rng=random.getstate(), exp=torch.exp, t_exp=torch.Tensor.exp, f_softmax=F.softmax,
        cwd=os.getcwd(), stdout=sys.stdout, printopts=torch._tensor_str.PRINT_OPTS.precision,
        builtin_len=len, math_log=math.log, env=os.environ.get("LMRL_TEST_VAR"),
    )


def _same(a, b):
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, torch.Tensor):
            assert torch.equal(x, y), k
        elif isinstance(x, np.ndarray):
            assert np.array_equal(x, y), k
        else:
            assert x == y or x is y, k


def changes_everything(z, dim=-1):
    import builtins
    torch.set_default_dtype(torch.float64)
    torch.set_grad_enabled(False)
    torch.set_num_threads(max(2, torch.get_num_threads() + 1))
    torch.use_deterministic_algorithms(not torch.are_deterministic_algorithms_enabled())
    torch.set_anomaly_enabled(True)
    sys.setrecursionlimit(123)
    torch.manual_seed(99); torch.rand(3); np.random.seed(99); random.seed(99)
    torch.exp = lambda x: x
    torch.Tensor.exp = lambda x: x
    F.softmax = None
    torch.Tensor.brand_new_method = lambda self: 0
    torch.printoptions = None
    torch.set_printoptions(precision=1)
    builtins.len = lambda x: 0
    math.log = None
    os.environ["LMRL_TEST_VAR"] = "changed"
    os.chdir("/")
    sys.stdout = None
    e = (z - z.amax(dim, keepdim=True))
    return e  # wrong, too


@pytest.mark.parametrize("name", ["stable_softmax", "log_softmax"])
def test_session_state_is_restored_after_a_check(mode, name):
    before = _state()
    result = check(name, changes_everything)
    after = _state()
    assert result.status == FAIL
    _same(before, after)
    assert not hasattr(torch.Tensor, "brand_new_method")
    assert torch.exp(torch.tensor(0.0)).item() == 1.0


def test_monkeypatching_in_one_case_changes_neither_later_expected_values_nor_the_comparison(mode):
    """Patching torch during case 1 so that later comparisons call anything equal: still FAIL."""
    calls = {"n": 0}

    def patcher(z, dim=-1):
        calls["n"] += 1
        torch.Tensor.__sub__ = lambda a, b: torch.zeros_like(a)
        torch.Tensor.abs = lambda a: torch.zeros_like(a)
        torch.isfinite = lambda a: torch.ones_like(a, dtype=torch.bool)
        torch.softmax = lambda x, dim=-1: torch.zeros_like(x)   # what the reference might use
        return torch.zeros_like(z)
    result = check("stable_softmax", patcher)
    assert result.status == FAIL and "differs from the reference" in result.message
    assert (torch.tensor([3.0]) - torch.tensor([1.0])).item() == 2.0


# ---------------------------------------------------------------- verdict quality

def test_only_an_untouched_stub_is_not_attempted(mode):
    def stub(z, dim=-1):
        """Docstring."""
        # a comment
        raise NotImplementedError("write me")

    def half_written(z, dim=-1):
        m = z.amax(dim, keepdim=True)
        raise NotImplementedError

    def deep(z, dim=-1):
        def helper(x):
            raise NotImplementedError
        return helper(z)
    assert is_untouched_stub(stub) and not is_untouched_stub(half_written) and not is_untouched_stub(deep)
    assert check("stable_softmax", stub).status == NOT_ATTEMPTED
    for fn in (half_written, deep):
        result = check("stable_softmax", fn)
        assert result.status == FAIL and "not finished" in result.message and "line" in result.message, result.message


def test_printed_output_is_captured_and_truncated(mode, capsys):
    def chatty(z, dim=-1):
        print("x" * 5000)
        return softmax_ok(z, dim)
    result = check("stable_softmax", chatty)
    out = capsys.readouterr()
    assert result.status == PASS
    assert "x" * 100 not in out.out and "x" * 100 not in out.err   # not dumped into the notebook
    assert "Your function printed: xxx" in result.message and "more characters" in result.message
    assert len(result.message) < 1000


@pytest.mark.parametrize("name, source, called", [
    ("stable_softmax", "def f(z, dim=-1):\n    return torch.softmax(z, dim)\n", "torch.softmax"),
    ("stable_softmax", "def f(z, dim=-1):\n    return z.softmax(dim)\n", "torch.Tensor.softmax"),
    ("log_softmax", "def f(z, dim=-1):\n    return F.log_softmax(z, dim)\n", "F.log_softmax"),
    ("log_softmax", "def f(z, dim=-1):\n    return z - torch.logsumexp(z, dim, keepdim=True)\n", "torch.logsumexp"),
    ("cross_entropy", "def f(logits, targets, ignore_index=-100):\n"
                      "    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),"
                      " ignore_index=ignore_index)\n", "F.cross_entropy"),
    ("causal_attention", "def f(q, k, v):\n    return F.scaled_dot_product_attention(q, k, v, is_causal=True)\n",
     "F.scaled_dot_product_attention"),
])
def test_calling_the_builtin_being_rebuilt_is_a_clear_fail(mode, name, source, called):
    ns = {"torch": torch, "F": F}
    exec(source, ns)
    result = check(name, ns["f"])
    assert result.status == FAIL, result.text
    assert f"`{called}`" in result.message and "write yourself" in result.message


def test_nan_expected_matches_nan_answer():
    nan = torch.tensor([float("nan"), 1.0])
    assert compare_outputs(nan, nan.clone(), 1e-6, 0)[0] is None
    assert compare_outputs(nan, torch.tensor([0.0, 1.0]), 1e-6, 0)[0] is not None
    assert compare_outputs(torch.tensor([0.0, 1.0]), nan, 1e-6, 0)[0] is not None
    assert compare_outputs(float("nan"), float("nan"), 1e-6, 0)[0] is None
    assert compare_outputs(float("nan"), 1.0, 1e-6, 0)[0] is not None   # used to pass: nan > tol is False
    assert compare_outputs(1.0, float("nan"), 1e-6, 0)[0] is not None


@pytest.mark.parametrize("value", [np.int64(7), np.float64(7.0), 7.0, torch.tensor(7), torch.tensor(7.0),
                                   np.array(7), np.int32(7)])
def test_every_numeric_type_of_the_right_value_is_accepted(value):
    assert compare_outputs(7, value, 0, 0)[0] is None
    assert compare_outputs(7, value + 1, 0, 0)[0] is not None


@pytest.mark.parametrize("value", [True, "7", None, [7]])
def test_non_numbers_are_not_numbers(value):
    assert compare_outputs(7, value, 0, 0)[0] is not None


def test_float64_cases_are_checked_at_float64_precision():
    x = torch.randn(50, dtype=torch.float64)
    assert compare_outputs(x, x.float().double(), 1e-5, 1e-5)[0] is not None
    assert "float64" in compare_outputs(x, x.float().double(), 1e-5, 1e-5)[0]
    assert compare_outputs(x, x + 1e-14, 1e-5, 1e-5)[0] is None
    assert compare_outputs(x.float(), x.float() + 1e-7, 1e-5, 1e-5)[0] is None   # float32: the usual tolerance


def test_comparison_never_raises():
    class Weird:
        def __eq__(self, other):
            raise ValueError("cannot compare")
    problem, _ = compare_outputs("abc", Weird(), 0, 0)
    assert problem and "could not be compared" in problem


def test_gradients_only_with_respect_to_grad_args():
    ex = Exercise(name="scaled", title="w·x", reference=lambda x, w: x * w.detach(),
                  cases=lambda g: [Case("(3,)", (torch.randn(3, generator=g), torch.randn(3, generator=g)))],
                  hints=["h"], solution="def f(x, w):\n    return x * w\n", check_grad=True, grad_args=("x",))
    assert check(ex, lambda x, w: x * w).passed            # its gradient in w is not asked for
    assert not check(ex, lambda x, w: (x * w).detach()).passed


def test_in_place_changes_to_any_argument_are_named(mode):
    ns = {"torch": torch}
    exec("def f(logits, targets, ignore_index=-100):\n"
         "    targets[targets == ignore_index] = 0\n"
         "    logp = logits.log_softmax(-1)\n"
         "    return -logp.gather(-1, targets[..., None]).mean()\n", ns)
    result = check("cross_entropy", ns["f"])
    assert result.status == FAIL and "`targets` in place" in result.message, result.message
