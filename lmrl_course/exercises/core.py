"""The exercise system: an exercise, its cases, and a checker that never crashes the kernel.

An :class:`Exercise` has a name, a reference implementation, a set of deterministic input
:class:`Case` s (random ones and edge cases), progressive hints and a solution. :func:`run_check`
calls the learner's function on every case, compares with the reference (type, shape, dtype,
values, NaN/inf and, optionally, gradients) and returns a :class:`CheckResult` whose text says
precisely what was wrong: which input, expected vs got, the largest absolute error.

A half-written answer — ``raise NotImplementedError``, ``return None``, a wrong shape, NaN, any
exception, an endless loop (stopped after ``time_limit_s``) — yields a verdict, never a crash.
"""
from __future__ import annotations

import math
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import torch

PASS, FAIL, NOT_ATTEMPTED = "PASS", "FAIL", "NOT ATTEMPTED"


@dataclass
class Case:
    """One input to an exercise: positional ``args``, keyword ``kwargs`` and a description that
    tells the learner what this input tests (e.g. "huge logits (±1e4): overflow test")."""
    description: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


@dataclass
class Exercise:
    """An exercise: what the learner writes, how it is checked, and how they are helped.

    ``cases(generator)`` returns the inputs, built from the seeded ``generator`` so every check sees
    the same numbers. Outputs are compared with ``torch.testing``-style tolerances ``atol``/``rtol``.
    With ``check_grad=True`` the gradients of ``sum(w * output)`` (fixed random ``w``) with respect
    to every floating-point tensor argument are compared too. ``compare`` replaces the default
    comparison: ``compare(expected, got) -> None`` when equal or a message saying what differs.
    """
    name: str
    title: str
    reference: Callable
    cases: Callable[[torch.Generator], Sequence[Case]]
    hints: Sequence[str]
    solution: str
    atol: float = 1e-6
    rtol: float = 1e-5
    check_dtype: bool = True
    check_grad: bool = False
    time_limit_s: float = 3.0
    seed: int = 1234
    compare: Optional[Callable[[Any, Any], Optional[str]]] = None
    nan_hint: str = "look for 0/0, the log of 0, or an overflow"
    solution_globals: Optional[Callable[[], dict]] = None
    """Names the solution may use besides torch, nn, F, math and np — things the notebook defined
    earlier (e.g. ``{"log_softmax": losses.log_softmax}``); used when a solution runs outside its notebook."""

    def __post_init__(self):
        if not self.name or not self.name.replace("_", "").isalnum():
            raise ValueError(f"exercise name must be a non-empty identifier, got {self.name!r}")
        if not callable(self.reference):
            raise TypeError(f"reference of exercise {self.name!r} must be callable")
        if not self.hints:
            raise ValueError(f"exercise {self.name!r} needs at least one hint")
        if not self.solution.strip():
            raise ValueError(f"exercise {self.name!r} needs a solution")

    def make_cases(self) -> list[Case]:
        gen = torch.Generator().manual_seed(self.seed)
        cases = list(self.cases(gen))
        if not cases:
            raise ValueError(f"exercise {self.name!r} has no cases")
        return cases


@dataclass
class CheckResult:
    """The verdict of checking one function against one exercise.

    ``status`` is ``"PASS"``, ``"FAIL"`` or ``"NOT ATTEMPTED"``; ``message`` says why; ``function``
    is the learner's function when it passed and the reference otherwise, so a notebook can always
    carry on with ``result.function``.
    """
    exercise: Exercise
    status: str
    message: str
    learner_function: Optional[Callable] = None
    case: Optional[str] = None
    max_abs_error: Optional[float] = None

    @property
    def passed(self) -> bool:
        return self.status == PASS

    @property
    def function(self) -> Callable:
        if self.passed and self.learner_function is not None:
            return self.learner_function
        return self.exercise.reference

    @property
    def text(self) -> str:
        text = f"[{self.status}] {self.exercise.name}: {self.message}"
        if not self.passed:
            text += "\n(Until it passes, the notebook carries on with the reference implementation.)"
        return text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text

    def __bool__(self) -> bool:
        return self.passed

    # Jupyter: render as the exercise widget; its plain-text form is the verdict.
    def _repr_mimebundle_(self, include=None, exclude=None):
        from .widget import ExerciseWidget  # imported lazily: plain Python needs no ipywidgets

        if getattr(self, "_widget", None) is None:
            self._widget = ExerciseWidget(self)
        bundle = self._widget._repr_mimebundle_(include=include, exclude=exclude)
        bundle = dict(bundle) if bundle else {}
        bundle["text/plain"] = self.text
        return bundle

    @property
    def widget(self):
        """The interactive widget (Check / Hint / Show solution) for this result."""
        from .widget import ExerciseWidget

        if getattr(self, "_widget", None) is None:
            self._widget = ExerciseWidget(self)
        return self._widget


# --------------------------------------------------------------------------- time limit

class _TimeLimitExceeded(BaseException):
    """Raised inside the learner's function when it runs past the time limit.

    A ``BaseException`` so that a learner's ``except Exception:`` cannot swallow it."""


class _time_limit:
    """Stop the body after ``seconds``: SIGALRM in the main thread on Unix, else a trace function.

    Either way the interruption happens between Python bytecodes, so a pure-Python endless loop is
    stopped; one enormous tensor operation finishes first.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __enter__(self):
        self.deadline = time.monotonic() + self.seconds
        self.use_signal = (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread())
        if self.use_signal:
            def on_alarm(signum, frame):
                raise _TimeLimitExceeded()
            self.old_handler = signal.signal(signal.SIGALRM, on_alarm)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        else:
            self.old_trace = sys.gettrace()
            deadline = self.deadline

            def tracer(frame, event, arg):
                if time.monotonic() > deadline:
                    raise _TimeLimitExceeded()
                return tracer
            sys.settrace(tracer)
        return self

    def __exit__(self, *exc):
        if self.use_signal:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old_handler)
        else:
            sys.settrace(self.old_trace)
        return False


# --------------------------------------------------------------------------- comparison

def _clone(obj, requires_grad: bool = False):
    if isinstance(obj, torch.Tensor):
        out = obj.detach().clone()
        if requires_grad and out.is_floating_point():
            out.requires_grad_(True)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_clone(o, requires_grad) for o in obj)
    if isinstance(obj, dict):
        return {k: _clone(v, requires_grad) for k, v in obj.items()}
    return obj


def _fmt(x) -> str:
    if isinstance(x, float):
        if x.is_integer() and abs(x) < 1e15:
            return str(int(x))
        return f"{x:.6g}"
    return repr(x)


def compare_outputs(expected, got, atol: float, rtol: float, check_dtype: bool = True,
                    where: str = "output", nan_hint: str = "") -> tuple[Optional[str], float]:
    """Compare a learner's output with the reference's. Returns ``(problem or None, max_abs_error)``."""
    if got is None and expected is not None:
        return f"{where} is None: did you forget the `return` statement?", math.nan
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return f"{where} should be a torch.Tensor, got {type(got).__name__}", math.nan
        if tuple(got.shape) != tuple(expected.shape):
            return (f"{where} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}"), math.nan
        if check_dtype and got.dtype != expected.dtype:
            return f"{where} has dtype {got.dtype}, expected {expected.dtype}", math.nan
        if got.device != expected.device:
            return f"{where} is on {got.device}, expected {expected.device} (take the device from the inputs)", math.nan
        e = expected.detach().to("cpu")
        g = got.detach().to("cpu")
        if not e.is_floating_point() and not e.is_complex():
            if not torch.equal(e, g.to(e.dtype)):
                idx = (e != g.to(e.dtype)).nonzero()[0].tolist()
                return (f"{where} differs at index {tuple(idx)}: expected {e[tuple(idx)].item()}, "
                        f"got {g[tuple(idx)].item()}"), math.nan
            return None, 0.0
        e = e.double()
        g = g.double()
        bad_nan = ~torch.isfinite(g) & torch.isfinite(e)
        if bad_nan.any():
            idx = tuple(bad_nan.nonzero()[0].tolist())
            hint = f" ({nan_hint})" if nan_hint else ""
            return (f"{where} contains {g[idx].item()} at index {idx} where the reference is "
                    f"{_fmt(e[idx].item())}{hint}"), math.inf
        finite = torch.isfinite(e)
        same_nonfinite = torch.equal(e[~finite], g[~finite]) if (~finite).any() else True
        if not same_nonfinite:
            idx = tuple((~finite & (e != g)).nonzero()[0].tolist())
            return f"{where} at index {idx}: expected {e[idx].item()}, got {g[idx].item()}", math.inf
        diff = (e - g).abs().where(finite, torch.zeros_like(e))
        max_err = float(diff.max()) if diff.numel() else 0.0
        tol = atol + rtol * e.abs().where(finite, torch.zeros_like(e))
        bad = diff > tol
        if bad.any():
            flat = int((diff - tol).flatten().argmax())
            idx = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), e.shape)) if e.dim() else ()
            return (f"{where} differs from the reference: max abs error {max_err:.3g} "
                    f"(tolerance atol={atol:g}, rtol={rtol:g}); at index {idx} expected "
                    f"{_fmt(e[idx].item())}, got {_fmt(g[idx].item())}"), max_err
        return None, max_err
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)):
            return f"{where} should be a {type(expected).__name__} of {len(expected)} items, got {type(got).__name__}", math.nan
        if len(got) != len(expected):
            return f"{where} should have {len(expected)} items, got {len(got)}", math.nan
        worst = 0.0
        for i, (e, g) in enumerate(zip(expected, got)):
            problem, err = compare_outputs(e, g, atol, rtol, check_dtype, where=f"{where}[{i}]", nan_hint=nan_hint)
            if problem:
                return problem, err
            worst = max(worst, err) if not math.isnan(err) else worst
        return None, worst
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            return f"{where} should be a number, got {type(got).__name__}", math.nan
        if math.isnan(got) and not math.isnan(expected):
            return f"{where} is nan, expected {_fmt(float(expected))}", math.inf
        err = abs(float(expected) - float(got))
        if err > atol + rtol * abs(float(expected)):
            return f"{where}: expected {_fmt(float(expected))}, got {_fmt(float(got))} (abs error {err:.3g})", err
        return None, err
    if expected != got:
        return f"{where}: expected {expected!r}, got {got!r}", math.nan
    return None, 0.0


def _float_tensors(args) -> list[torch.Tensor]:
    found = []
    for a in args:
        if isinstance(a, torch.Tensor) and a.is_floating_point() and a.requires_grad:
            found.append(a)
        elif isinstance(a, (list, tuple)):
            found.extend(_float_tensors(a))
    return found


def _grad_of(fn, case: Case, weight_seed: int):
    """Gradients of sum(w * fn(*args)) with respect to the case's floating-point tensor arguments."""
    args = _clone(case.args, requires_grad=True)
    kwargs = _clone(case.kwargs, requires_grad=False)
    out = fn(*args, **kwargs)
    if isinstance(out, (tuple, list)):
        out = out[0]
    inputs = _float_tensors(args)
    if not isinstance(out, torch.Tensor) or not out.is_floating_point():
        return None, "the output is not a floating-point tensor, so it has no gradient"
    if not out.requires_grad:
        return None, ("the output has no gradient path to the inputs: did you use .item(), "
                      ".detach(), .numpy() or build a new tensor with torch.tensor(...)?")
    gen = torch.Generator().manual_seed(weight_seed)
    w = torch.randn(out.shape, generator=gen, dtype=out.dtype).to(out.device)
    grads = torch.autograd.grad((out * w).sum(), inputs, allow_unused=True)
    grads = tuple(torch.zeros_like(x) if g is None else g for g, x in zip(grads, inputs))
    return grads, None


def _describe_exception(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    line = ""
    for fr in reversed(frames):
        if "lmrl_course" not in fr.filename.replace("\\", "/").split("/"):
            line = f" (line {fr.lineno}: {fr.line.strip()})" if fr.line else f" (line {fr.lineno})"
            break
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}{line}" if text else f"{type(exc).__name__}{line}"


def run_check(exercise: Exercise, fn: Any) -> CheckResult:
    """Check ``fn`` against ``exercise`` on all its cases; never raises for a learner's mistake."""
    if fn is None or not callable(fn):
        return CheckResult(exercise, NOT_ATTEMPTED if fn is None else FAIL,
                           "nothing to check: pass your function itself (without calling it), "
                           f"got {type(fn).__name__}", None)
    try:
        cases = exercise.make_cases()
    except Exception as exc:  # a broken catalogue is the course's bug, say so plainly
        return CheckResult(exercise, FAIL, f"internal error building the test cases: {exc!r}", fn)
    worst = 0.0
    for i, case in enumerate(cases):
        label = f"case {i + 1}/{len(cases)} ({case.description})"
        expected = exercise.reference(*_clone(case.args), **_clone(case.kwargs))
        try:
            with _time_limit(exercise.time_limit_s):
                got = fn(*_clone(case.args), **_clone(case.kwargs))
        except NotImplementedError:
            return CheckResult(exercise, NOT_ATTEMPTED,
                               "not attempted yet: your function raises NotImplementedError. Write it, "
                               "re-run its cell, then press Check.", fn, case=case.description)
        except _TimeLimitExceeded:
            return CheckResult(exercise, FAIL,
                               f"{label}: did not finish within {exercise.time_limit_s:g} s and was stopped. "
                               "An endless loop?", fn, case=case.description)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            return CheckResult(exercise, FAIL, f"{label}: raised {_describe_exception(exc)}", fn,
                               case=case.description)
        problem, err = compare_outputs(expected, got, exercise.atol, exercise.rtol, exercise.check_dtype,
                                       nan_hint=exercise.nan_hint)
        if exercise.compare is not None and problem is None:
            try:
                problem = exercise.compare(expected, got)
            except Exception as exc:
                problem = f"could not compare the output: {_describe_exception(exc)}"
        if problem:
            return CheckResult(exercise, FAIL, f"{label}: {problem}", fn, case=case.description,
                               max_abs_error=None if math.isnan(err) else err)
        if not math.isnan(err):
            worst = max(worst, err)
        if exercise.check_grad:
            ref_grads, _ = _grad_of(exercise.reference, case, exercise.seed + i)
            try:
                with _time_limit(exercise.time_limit_s):
                    got_grads, why = _grad_of(fn, case, exercise.seed + i)
            except _TimeLimitExceeded:
                return CheckResult(exercise, FAIL, f"{label}: the backward pass did not finish in time", fn)
            except Exception as exc:
                return CheckResult(exercise, FAIL, f"{label}: the backward pass raised {_describe_exception(exc)}", fn)
            if why:
                return CheckResult(exercise, FAIL, f"{label}: {why}", fn, case=case.description)
            problem, err = compare_outputs(tuple(ref_grads), tuple(got_grads), exercise.atol * 10,
                                           exercise.rtol * 10, True, where="gradient")
            if problem:
                return CheckResult(exercise, FAIL, f"{label}: {problem}", fn, case=case.description)
    grads = " and gradients" if exercise.check_grad else ""
    return CheckResult(exercise, PASS,
                       f"all {len(cases)} cases match the reference{grads} (max abs error {worst:.2g}). Well done!",
                       fn, max_abs_error=worst)

