"""The checker against hostile answers.

The forbidden-call monitor: a built-in the exercise rebuilds is caught however the learner reached it (through its
module attribute, a name bound before the check, or the course's own implementation), only when called from outside
the package, and the session's profile hook is left as it was. A function that leaves grad mode off is told so."""
import sys

import torch
import torch.nn.functional as F
from torch import softmax as bound_softmax            # bound before any monitor exists

from lmrl_course.exercises import check
from lmrl_course.exercises.sandbox import CallMonitor, call_guarded
from lmrl_course.losses import log_softmax as package_log_softmax


def test_a_name_bound_before_the_check_is_caught_by_identity():
    x = torch.randn(3, 4)
    m = CallMonitor(["torch.softmax"])
    try:
        bound_softmax(x, dim=-1)                       # the original builtin, not the patched attribute
    finally:
        m.restore()
    assert m.called == ["torch.softmax"]


def test_python_functions_and_also_pairs_are_caught_by_identity():
    x = torch.randn(3, 4)
    lsm = F.log_softmax                                # a Python function, bound before the monitor
    m = CallMonitor(["torch.nn.functional.log_softmax"], also=[("course", package_log_softmax)])
    try:
        lsm(x, -1)
        package_log_softmax(x)
    finally:
        m.restore()
    assert m.called == ["torch.nn.functional.log_softmax", "course"]


def test_calls_from_inside_the_package_are_not_counted():
    # the package's log_softmax calls torch.exp and torch.where itself: that is not the learner's doing
    call = call_guarded(package_log_softmax, (torch.randn(2, 3),), {}, forbidden=["torch.exp", "torch.where"])
    assert call.kind == "ok" and call.forbidden == []
    x = torch.randn(2, 3)
    call = call_guarded(lambda: torch.exp(x), (), {}, forbidden=["torch.exp"])   # from here it is
    assert call.forbidden == ["torch.exp"]


def test_the_previous_profile_hook_is_restored_and_still_called():
    seen = []

    def hook(frame, event, arg):
        seen.append(event)

    sys.setprofile(hook)
    try:
        x = torch.randn(2)
        m = CallMonitor(["torch.softmax"])
        seen.clear()
        bound_softmax(x, dim=0)
        during = list(seen)
        m.restore()
        assert sys.getprofile() is hook
        assert "c_call" in during                       # chained while the monitor was active
    finally:
        sys.setprofile(None)
    assert m.called == ["torch.softmax"]


def test_check_names_what_was_called():
    def aliased(z, dim=-1):
        return bound_softmax(z, dim=dim)

    r = check("stable_softmax", aliased)
    assert not r.passed and "`torch.softmax`" in r.message and "built-in" in r.message

    def course_own(z, dim=-1):
        return package_log_softmax(z, dim)

    r = check("log_softmax", course_own)
    assert not r.passed and "lmrl_course.losses.log_softmax" in r.message and "course's own" in r.message

    def written(z, dim=-1):
        m = z.amax(dim=dim, keepdim=True)
        return z - m - (z - m).exp().sum(dim=dim, keepdim=True).log()

    assert check("log_softmax", written).passed
    assert sys.getprofile() is None


def test_grad_mode_left_off_is_named_and_the_session_gets_it_back():
    def grad_off(z, dim=-1):
        torch.set_grad_enabled(False)
        e = (z - z.amax(dim=dim, keepdim=True)).exp()
        return e / e.sum(dim=dim, keepdim=True)

    r = check("stable_softmax", grad_off)
    assert not r.passed and "switched gradient tracking off" in r.message
    assert torch.is_grad_enabled()


def test_a_correct_answer_that_prints_megabytes_still_passes_and_shows_a_clipped_print():
    def loud(z, dim=-1):
        print("x" * 2_000_000)
        e = (z - z.amax(dim=dim, keepdim=True)).exp()
        return e / e.sum(dim=dim, keepdim=True)

    r = check("stable_softmax", loud)
    assert r.passed, r.message
    assert len(r.printed) < 10_000 and "more characters" in r.printed


def test_a_float64_mismatch_prints_digits_that_differ():
    import re

    def in_float32(z, dim=-1):
        e = (z.float() - z.float().amax(dim=dim, keepdim=True)).exp()
        return (e / e.sum(dim=dim, keepdim=True)).to(z.dtype)

    r = check("stable_softmax", in_float32)
    assert not r.passed and "float64" in r.message
    expected, got = re.search(r"expected (\S+), got (\S+)", r.message).groups()
    assert expected != got, r.message


def test_whose_names_the_function_that_result_function_returns():
    def stub(z, dim=-1):
        raise NotImplementedError

    def right(z, dim=-1):
        e = (z - z.amax(dim=dim, keepdim=True)).exp()
        return e / e.sum(dim=dim, keepdim=True)

    def wrong(z, dim=-1):
        return z.exp() / z.exp().sum(dim=dim, keepdim=True)

    for fn, whose in ((stub, "reference"), (wrong, "reference"), (right, "yours")):
        r = check("stable_softmax", fn)
        assert r.whose == whose and (r.function is fn) == (whose == "yours"), (fn.__name__, r.status)
