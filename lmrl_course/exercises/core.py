"""The exercise system: an exercise, its cases, and a checker whose PASS can be trusted.

An :class:`Exercise` has a name, a reference implementation, a set of deterministic input
:class:`Case` s (random ones and edge cases), progressive hints and a solution. :func:`run_check`
calls the learner's function on every case, compares with the reference (type, shape, dtype,
values, NaN/inf and, where the exercise says the result must be differentiable, gradients) and
returns a :class:`CheckResult` whose text says precisely what was wrong: which input, expected vs
got, the largest absolute error.

What the checker guarantees, whatever the learner's code does:

- **Expected values are computed first**, in a clean session, before any of the learner's code runs;
  nothing the learner's code does (monkeypatching ``torch``, changing the default dtype) can change them.
- **The learner's code runs isolated** (:mod:`.sandbox`): in a forked copy of the process on Linux,
  guarded in-process elsewhere. ``sys.exit()``, an endless loop that swallows every exception, a crash,
  ``input()``: each is a verdict, and the session is left exactly as it was found.
- **Inputs are read-only**: an answer that changes an argument in place FAILs, naming the argument.
- **float64 cases are checked at float64 precision**: computing in float32 and casting back FAILs.
- **Forbidden built-ins**: where the notebook asks the learner not to call the function they are
  rebuilding (``F.log_softmax``), calling it FAILs with a message saying so, also through a name bound
  before the check (``from torch import softmax as sm``); so does calling the course's own implementation
  of the exercise (its reference, or a package function of the same name).
- **Only an untouched stub is NOT ATTEMPTED**; a ``NotImplementedError`` raised by written code is a FAIL
  with the line it came from. Printed output is captured and shown, truncated, in the verdict.
"""
from __future__ import annotations

import copy
import dataclasses
import dis
import inspect
import io
import math
import numbers
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

from . import sandbox

PASS, FAIL, NOT_ATTEMPTED = "PASS", "FAIL", "NOT ATTEMPTED"

NOT_ATTEMPTED_MESSAGE = ("not attempted yet: your function raises NotImplementedError. Write it, "
                         "re-run its cell, then press Check.")
FLOAT64_ATOL, FLOAT64_RTOL = 1e-10, 1e-9
"""Tolerances for float64 outputs: far below float32's rounding (~6e-8 relative), so that an answer
that computes in float32 and casts back to float64 is caught; far above float64's (~1e-16)."""
PRINT_LIMIT = 400


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
    the same numbers. Outputs are compared with ``torch.testing``-style tolerances ``atol``/``rtol``
    (float64 outputs with at most ``float64_atol``/``float64_rtol``). With ``check_grad=True`` — only
    where the notebook says the result must be differentiable — the gradients of ``Σ_j sum(w_j * output_j)``
    (fixed random ``w_j``, over every floating-point tensor the function returns) with respect to the
    floating-point tensors of the arguments named in ``grad_args`` (default: all of them; inside lists and
    dicts too) are compared, each named in the message. ``compare`` replaces the default comparison:
    ``compare(expected, got) -> None`` when equal or a message saying what differs. ``forbidden`` lists
    dotted names (``"torch.nn.functional.log_softmax"``) the learner's code must not call.
    ``time_limit_s`` is CPU time per call.
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
    grad_args: Optional[Sequence[str]] = None
    forbidden: Sequence[str] = ()
    forbidden_hint: str = "write it from the elementary operations, as the notebook asks"
    float64_atol: float = FLOAT64_ATOL
    float64_rtol: float = FLOAT64_RTOL
    inputs_read_only: bool = True

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or not self.name.replace("_", "").isalnum():
            raise ValueError(f"exercise name must be a non-empty identifier, got {self.name!r}")
        if not callable(self.reference):
            raise TypeError(f"reference of exercise {self.name!r} must be callable")
        if not self.hints:
            raise ValueError(f"exercise {self.name!r} needs at least one hint")
        if not self.solution.strip():
            raise ValueError(f"exercise {self.name!r} needs a solution")
        if not (self.time_limit_s > 0):
            raise ValueError(f"time_limit_s of exercise {self.name!r} must be > 0, got {self.time_limit_s!r}")
        self.forbidden = tuple(self.forbidden)
        if self.grad_args is not None:
            names = _parameter_names(self.reference)
            unknown = [a for a in self.grad_args if names and a not in names]
            if unknown:
                raise ValueError(f"grad_args {unknown} of exercise {self.name!r} are not parameters of its "
                                 f"reference {names}")

    def make_cases(self) -> list[Case]:
        gen = torch.Generator().manual_seed(self.seed)
        cases = list(self.cases(gen))
        if not cases:
            raise ValueError(f"exercise {self.name!r} has no cases")
        return cases


def _parameter_names(fn) -> list[str]:
    try:
        return [p.name for p in inspect.signature(fn).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    except (TypeError, ValueError):
        return []


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
    printed: str = ""

    @property
    def passed(self) -> bool:
        return self.status == PASS

    @property
    def function(self) -> Callable:
        if self.passed and self.learner_function is not None:
            return self.learner_function
        return self.exercise.reference

    @property
    def whose(self) -> str:
        """Whose function :attr:`function` is, for labels: ``"yours"`` once it passed, ``"reference"`` until then."""
        return "yours" if self.passed and self.learner_function is not None else "reference"

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
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude)
        bundle = dict(bundle) if bundle else {}
        bundle["text/plain"] = self.text
        return bundle

    @property
    def widget(self):
        """The interactive widget (Check / Hint / Show solution) for this result."""
        from .widget import ExerciseWidget  # imported lazily: plain Python needs no ipywidgets

        if getattr(self, "_widget", None) is None:
            self._widget = ExerciseWidget(self)
        return self._widget


# --------------------------------------------------------------------------- copies of inputs

def _clone(obj, requires_grad: bool = False):
    """A deep, independent copy of a case's argument (tensors detached; modules, configs deep-copied)."""
    if isinstance(obj, torch.Tensor):
        out = obj.detach().clone()
        if requires_grad and out.is_floating_point():
            out.requires_grad_(True)
        return out
    if isinstance(obj, torch.Generator):
        gen = torch.Generator(device=obj.device)
        gen.set_state(obj.get_state())
        return gen
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a namedtuple
        return type(obj)(*(_clone(o, requires_grad) for o in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_clone(o, requires_grad) for o in obj)
    if isinstance(obj, dict):
        return type(obj)((k, _clone(v, requires_grad)) for k, v in obj.items())
    if isinstance(obj, (int, float, str, bool, type(None), complex)) or callable(obj) and not isinstance(obj, torch.nn.Module):
        return obj
    try:
        return copy.deepcopy(obj)
    except Exception:  # noqa: BLE001 - an object that cannot be copied is passed as it is
        return obj


def _tensor_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype or a.device != b.device:
        return False
    if a.is_floating_point() or a.is_complex():
        same = (a == b) | (torch.isnan(a) & torch.isnan(b))
        return bool(same.all())
    return torch.equal(a, b)


def _changed(before, after) -> Optional[str]:
    """How ``after`` differs from its pristine copy ``before``; None when unchanged."""
    if isinstance(before, torch.Tensor):
        if not isinstance(after, torch.Tensor):
            return "was replaced"
        if after.shape != before.shape:
            return f"changed shape from {tuple(before.shape)} to {tuple(after.shape)}"
        if after.dtype != before.dtype:
            return f"changed dtype from {before.dtype} to {after.dtype}"
        with torch.no_grad():
            if not _tensor_equal(before, after.detach()):
                return "changed its values"
        return None
    if isinstance(before, torch.Generator):
        return None  # drawing from a generator is what it is for
    if isinstance(before, torch.nn.Module):
        sd_b, sd_a = before.state_dict(), after.state_dict()
        for k in sd_b:
            if k not in sd_a or _changed(sd_b[k], sd_a[k]):
                return f"changed its parameter {k!r}"
        return None
    if isinstance(before, (list, tuple)):
        if not isinstance(after, (list, tuple)) or len(after) != len(before):
            return "changed its length"
        for i, (b, a) in enumerate(zip(before, after)):
            why = _changed(b, a)
            if why:
                return f"item [{i}] {why}"
        return None
    if isinstance(before, dict):
        if not isinstance(after, dict) or set(after) != set(before):
            return "changed its keys"
        for k in before:
            why = _changed(before[k], after[k])
            if why:
                return f"entry [{k!r}] {why}"
        return None
    if dataclasses.is_dataclass(before) and not isinstance(before, type):
        try:
            return None if before == after else "changed one of its fields"
        except Exception:  # noqa: BLE001
            return None
    if isinstance(before, (bool, int, float, complex, str, bytes)) or before is None:
        # a plain value inside a container (e.g. state["step"] += 1 on a dict argument)
        same = type(after) is type(before) and (after == before or (before != before and after != after))
        return None if same else f"changed from {before!r} to {after!r}"
    return None


def _mutated_argument(exercise: Exercise, case: Case, pristine: tuple, used: tuple) -> Optional[str]:
    """The message for the first argument that the learner's function changed in place, or None."""
    names = _parameter_names(exercise.reference)
    (args_b, kwargs_b), (args_a, kwargs_a) = pristine, used
    for i, (b, a) in enumerate(zip(args_b, args_a)):
        why = _changed(b, a)
        if why:
            name = names[i] if i < len(names) else f"#{i + 1}"
            return _mutation_message(name, why)
    for k in kwargs_b:
        why = _changed(kwargs_b[k], kwargs_a.get(k))
        if why:
            return _mutation_message(k, why)
    return None


def _mutation_message(name: str, why: str) -> str:
    return (f"your function changed its input `{name}` in place ({why}). The caller still needs it: "
            f"compute a new tensor instead (`x - m`, not `x.sub_(m)` or `x -= m`; `masked_fill`, not "
            f"`masked_fill_`; no `x[...] = ...` on an argument)")


# --------------------------------------------------------------------------- comparison

def _fmt(x) -> str:
    if isinstance(x, float):
        if x.is_integer() and abs(x) < 1e15:
            return str(int(x))
        return f"{x:.6g}"
    return repr(x)


def _fmt_pair(expected, got) -> tuple:
    """``_fmt`` of both, with as many more digits as it takes for two different floats to read differently
    (a float64 error of 1e-9 would otherwise read "expected -2.76253, got -2.76253")."""
    a, b = _fmt(expected), _fmt(got)
    if a == b and isinstance(expected, float) and isinstance(got, float) and expected != got:
        for digits in range(7, 18):
            a, b = f"{expected:.{digits}g}", f"{got:.{digits}g}"
            if a != b:
                break
    return a, b


def _as_plain_tensor(t: torch.Tensor) -> torch.Tensor:
    """A plain, detached CPU copy of any tensor (subclasses included), with __torch_function__ off."""
    with torch._C.DisableTorchFunction():
        plain = torch.Tensor._make_subclass(torch.Tensor, t.detach()) if type(t) is not torch.Tensor else t.detach()
        return plain.to("cpu").clone()


def _as_number(got):
    """A Python number for any numeric scalar (int, float, numpy scalar, 0-d array or tensor), else None."""
    if isinstance(got, bool) or isinstance(got, np.bool_):
        return None
    if isinstance(got, torch.Tensor):
        if got.numel() != 1 or got.is_complex() or got.dtype == torch.bool:
            return None
        return _as_plain_tensor(got).reshape(()).item()
    if isinstance(got, np.ndarray):
        if got.size != 1 or got.dtype.kind not in "iuf":
            return None
        return got.reshape(()).item()
    if isinstance(got, numbers.Real):
        return float(got) if not isinstance(got, numbers.Integral) else int(got)
    return None


def compare_outputs(expected, got, atol: float, rtol: float, check_dtype: bool = True,
                    where: str = "output", nan_hint: str = "",
                    float64_tol: Optional[tuple[float, float]] = (FLOAT64_ATOL, FLOAT64_RTOL)
                    ) -> tuple[Optional[str], float]:
    """Compare a learner's output with the reference's. Returns ``(problem or None, max_abs_error)``.

    Never raises: an output that cannot be compared is a problem that says why. A NaN where the
    reference has NaN matches; float64 outputs are held to ``float64_tol`` (atol, rtol) at most."""
    try:
        return _compare(expected, got, atol, rtol, check_dtype, where, nan_hint, float64_tol)
    except Exception as exc:  # noqa: BLE001 - an odd output is a verdict, not a crash
        return f"{where} could not be compared with the reference: {_safe_str(exc)}", math.nan


def _compare(expected, got, atol, rtol, check_dtype, where, nan_hint, float64_tol):
    if got is None and expected is not None:
        return f"{where} is None: did you forget the `return` statement?", math.nan
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return f"{where} should be a torch.Tensor, got {type(got).__name__}", math.nan
        if got.is_nested:
            return f"{where} is a nested tensor; return an ordinary (strided) tensor", math.nan
        if got.layout != torch.strided and expected.layout == torch.strided:
            return f"{where} is a {str(got.layout).replace('torch.', '')} tensor; return a dense one (.to_dense())", math.nan
        if tuple(got.shape) != tuple(expected.shape):
            return (f"{where} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}"), math.nan
        if check_dtype and got.dtype != expected.dtype:
            return f"{where} has dtype {got.dtype}, expected {expected.dtype}", math.nan
        if got.device != expected.device:
            return f"{where} is on {got.device}, expected {expected.device} (take the device from the inputs)", math.nan
        e = _as_plain_tensor(expected)
        g = _as_plain_tensor(got)
        if e.is_complex() or g.is_complex():
            e, g = torch.view_as_real(e.to(torch.complex128)), torch.view_as_real(g.to(torch.complex128))
        if not e.is_floating_point():
            if e.dtype == torch.bool:
                g = g.to(torch.bool) if g.dtype == torch.bool else g
            if not torch.equal(e, g.to(e.dtype)) or (g.is_floating_point() and not torch.equal(g, e.to(g.dtype))):
                diff = (e.to(torch.float64) != g.to(torch.float64))
                idx = tuple(diff.nonzero()[0].tolist()) if diff.any() else ()
                return (f"{where} differs at index {idx}: expected {e[idx].item()}, "
                        f"got {g[idx].item()}"), math.nan
            return None, 0.0
        if expected.dtype == torch.float64 and float64_tol is not None:
            atol, rtol = min(atol, float64_tol[0]), min(rtol, float64_tol[1])
        e = e.double()
        g = g.double()
        e_nan, g_nan = torch.isnan(e), torch.isnan(g)
        bad_nan = (g_nan & ~e_nan) | (~torch.isfinite(g) & torch.isfinite(e))
        if bad_nan.any():
            idx = tuple(bad_nan.nonzero()[0].tolist())
            hint = f" ({nan_hint})" if nan_hint else ""
            return (f"{where} contains {g[idx].item()} at index {idx} where the reference is "
                    f"{_fmt(e[idx].item())}{hint}"), math.inf
        finite = torch.isfinite(e)
        nonfinite_ok = (e_nan & g_nan) | (e == g)   # NaN matches NaN, inf matches the same inf
        wrong_nonfinite = ~finite & ~nonfinite_ok
        if wrong_nonfinite.any():
            idx = tuple(wrong_nonfinite.nonzero()[0].tolist())
            return f"{where} at index {idx}: expected {e[idx].item()}, got {g[idx].item()}", math.inf
        diff = (e - g).abs().where(finite, torch.zeros_like(e))
        max_err = float(diff.max()) if diff.numel() else 0.0
        tol = atol + rtol * e.abs().where(finite, torch.zeros_like(e))
        bad = diff > tol
        if bad.any():
            flat = int((diff - tol).flatten().argmax())
            idx = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), e.shape)) if e.dim() else ()
            extra = ""
            if expected.dtype == torch.float64 and max_err < 1e-5:
                extra = " — float64 inputs need float64 arithmetic all the way (no .float() inside)"
            shown_e, shown_g = _fmt_pair(e[idx].item(), g[idx].item())
            return (f"{where} differs from the reference: max abs error {max_err:.3g} "
                    f"(tolerance atol={atol:g}, rtol={rtol:g}); at index {idx} expected "
                    f"{shown_e}, got {shown_g}{extra}"), max_err
        return None, max_err
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"{where} should be a dict with keys {sorted(map(str, expected))}, got {type(got).__name__}", math.nan
        if set(got) != set(expected):
            return (f"{where} has keys {sorted(map(str, got))}, expected {sorted(map(str, expected))}"), math.nan
        worst = 0.0
        for k in expected:
            problem, err = _compare(expected[k], got[k], atol, rtol, check_dtype, f"{where}[{k!r}]", nan_hint, float64_tol)
            if problem:
                return problem, err
            worst = max(worst, err) if not math.isnan(err) else worst
        return None, worst
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)):
            return f"{where} should be a {type(expected).__name__} of {len(expected)} items, got {type(got).__name__}", math.nan
        if len(got) != len(expected):
            return f"{where} should have {len(expected)} items, got {len(got)}", math.nan
        worst = 0.0
        for i, (e, g) in enumerate(zip(expected, got)):
            problem, err = _compare(e, g, atol, rtol, check_dtype, f"{where}[{i}]", nan_hint, float64_tol)
            if problem:
                return problem, err
            worst = max(worst, err) if not math.isnan(err) else worst
        return None, worst
    if isinstance(expected, numbers.Real) and not isinstance(expected, bool):
        value = _as_number(got)
        if value is None:
            return f"{where} should be a number, got {type(got).__name__}", math.nan
        exp = float(expected)
        if math.isnan(exp) or math.isnan(value):
            if math.isnan(exp) and math.isnan(value):
                return None, 0.0
            return f"{where}: expected {_fmt(exp)}, got {_fmt(float(value))}", math.inf
        if math.isinf(exp) or math.isinf(value):
            if exp == value:
                return None, 0.0
            return f"{where}: expected {_fmt(exp)}, got {_fmt(float(value))}", math.inf
        err = abs(exp - float(value))
        if err > atol + rtol * abs(exp):
            shown_e, shown_g = _fmt_pair(float(exp), float(value))
            return f"{where}: expected {shown_e}, got {shown_g} (abs error {err:.3g})", err
        return None, err
    same = expected == got
    if isinstance(same, (torch.Tensor, np.ndarray)):
        same = bool(np.all(np.asarray(same)))
    if not same:
        return f"{where}: expected {expected!r}, got {_short_repr(got)}", math.nan
    return None, 0.0


def _short_repr(obj, limit: int = 120) -> str:
    try:
        text = repr(obj)
    except Exception:  # noqa: BLE001
        text = f"<{type(obj).__name__}>"
    return text if len(text) <= limit else text[:limit] + "…"


# --------------------------------------------------------------------------- gradients

def _grad_inputs(exercise: Exercise, args: tuple, kwargs: dict) -> dict[str, torch.Tensor]:
    """The floating-point tensors of the case's arguments named in ``grad_args`` (default: all), by a label
    that says where each sits: ``"x"``, ``"params['ln_1.weight']"`` (inside lists, tuples and dicts too, so a
    weights dict that the course trains through is differentiated entry by entry)."""
    names = _parameter_names(exercise.reference)
    chosen: dict[str, torch.Tensor] = {}

    def collect(obj, label):
        if isinstance(obj, torch.Tensor) and obj.is_floating_point():
            chosen[label] = obj
        elif isinstance(obj, (list, tuple)):
            for j, o in enumerate(obj):
                collect(o, f"{label}[{j}]")
        elif isinstance(obj, dict):
            for k, o in obj.items():
                collect(o, f"{label}[{k!r}]")
    for i, a in enumerate(args):
        if exercise.grad_args is None or (i < len(names) and names[i] in exercise.grad_args):
            collect(a, names[i] if i < len(names) else f"argument {i + 1}")
    for k, v in kwargs.items():
        if exercise.grad_args is None or k in exercise.grad_args:
            collect(v, k)
    return chosen


def _grad_case(exercise: Exercise, case: Case):
    """Fresh copies of the case's arguments with the gradient inputs marked ``requires_grad``."""
    args, kwargs = _clone(case.args), _clone(case.kwargs)
    inputs = _grad_inputs(exercise, args, kwargs)
    for x in inputs.values():
        x.requires_grad_(True)
    return args, kwargs, inputs


def _weights_for(out: torch.Tensor, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(out.shape, generator=gen, dtype=torch.float64).to(dtype=out.dtype, device=out.device)


def _first_output(out):
    return out[0] if isinstance(out, (tuple, list)) and out else out


def _objective(out, seed: int) -> torch.Tensor:
    """Σ_j sum(w_j · out_j) over the floating-point tensors of the output (one output, or each of a tuple such as
    an LSTM's (h, c) or a forward pass's (logits, loss)), with fixed random weights w_j."""
    outs = out if isinstance(out, (tuple, list)) else (out,)
    terms = [(t * _weights_for(t, seed + 7919 * j)).sum() for j, t in enumerate(outs)
             if isinstance(t, torch.Tensor) and t.is_floating_point() and t.requires_grad]
    return sum(terms[1:], terms[0])


def _grads_of(objective: torch.Tensor, inputs: dict) -> dict:
    grads = torch.autograd.grad(objective, list(inputs.values()), allow_unused=True)
    return {k: torch.zeros_like(x) if g is None else g.detach() for (k, x), g in zip(inputs.items(), grads)}


def _reference_grads(exercise: Exercise, case: Case, seed: int):
    args, kwargs, inputs = _grad_case(exercise, case)
    return _grads_of(_objective(exercise.reference(*args, **kwargs), seed), inputs)


def _learner_grads(fn, exercise: Exercise, case: Case, seed: int):
    """Run ``fn`` on fresh copies and differentiate; returns (grads, None) or (None, problem)."""
    args, kwargs, inputs = _grad_case(exercise, case)
    full = fn(*args, **kwargs)
    out = _first_output(full)
    if not torch.is_grad_enabled():
        return None, ("your function switched gradient tracking off and left it off (torch.set_grad_enabled(False), "
                      "or torch.no_grad() entered without `with`): the course trains through this function, so "
                      "use `with torch.no_grad():` only around code that must not be differentiated")
    if isinstance(out, torch.Tensor) and type(out) is not torch.Tensor:
        out = torch.Tensor._make_subclass(torch.Tensor, out) if not out.requires_grad else out.as_subclass(torch.Tensor)
    if not isinstance(out, torch.Tensor) or not out.is_floating_point():
        return None, "the output is not a floating-point tensor, so it has no gradient"
    if not out.requires_grad:
        return None, ("the output has no gradient path to the inputs: did you use .item(), "
                      ".detach(), .numpy() or build a new tensor with torch.tensor(...)? The course trains "
                      "through this function, so its result must stay differentiable")
    if isinstance(full, (tuple, list)):
        full = (out, *full[1:])
    else:
        full = out
    return _grads_of(_objective(full, seed), inputs), None


# --------------------------------------------------------------------------- verdict helpers

def _safe_str(exc: BaseException) -> str:
    try:
        text = str(exc).strip()
    except BaseException:  # noqa: BLE001 - an exception whose __str__ raises
        return "(its message could not be shown)"
    return text.splitlines()[0] if text else ""


def _describe_exception(exc: BaseException) -> str:
    line = ""
    try:
        frames = traceback.extract_tb(exc.__traceback__)
    except BaseException:  # noqa: BLE001
        frames = []
    for fr in reversed(frames):
        parts = fr.filename.replace("\\", "/").split("/")
        if "lmrl_course" not in parts and "site-packages" not in parts:
            line = f" (line {fr.lineno}: {fr.line.strip()})" if fr.line else f" (line {fr.lineno})"
            break
    name = getattr(type(exc), "__name__", "exception")
    text = _safe_str(exc)
    return f"{name}: {text}{line}" if text else f"{name}{line}"


_STUB_OPS = {"RESUME", "NOP", "LOAD_GLOBAL", "LOAD_NAME", "LOAD_CONST", "PRECALL", "CALL", "CALL_FUNCTION",
             "PUSH_NULL", "RAISE_VARARGS", "CACHE", "KW_NAMES", "EXTENDED_ARG", "MAKE_CELL", "COPY_FREE_VARS"}


def is_untouched_stub(fn) -> bool:
    """True when ``fn``'s body is only ``raise NotImplementedError`` (with or without a message,
    a docstring, comments or ``pass``): the exercise cell as the notebook ships it."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return False
    if set(code.co_names) != {"NotImplementedError"}:
        return False
    try:
        ops = {ins.opname for ins in dis.get_instructions(code)}
    except Exception:  # noqa: BLE001
        return False
    return "RAISE_VARARGS" in ops and ops <= _STUB_OPS


def _clip_printed(printed: str) -> str:
    """The learner's printed text as the verdict carries and shows it: at most ``PRINT_LIMIT`` characters and how
    many more there were (never megabytes through the sandbox's pipe)."""
    printed = printed.strip("\n")
    if len(printed) > PRINT_LIMIT:
        printed = printed[:PRINT_LIMIT] + f"… ({len(printed) - PRINT_LIMIT} more characters)"
    return printed


def _with_printed(message: str, printed: str) -> str:
    """``message`` with the (already clipped) printed text appended."""
    return f"{message}\nYour function printed: {printed}" if printed else message


def _forbidden_message(exercise: Exercise, names: list[str]) -> str:
    own = [n for n in names if n.endswith(PACKAGE_OWN)]
    shown = ", ".join(f"`{n.replace('torch.nn.functional.', 'F.').replace(PACKAGE_OWN, '')}`" for n in names)
    what = ("the course's own implementation of this exercise" if len(own) == len(names)
            else "the built-in this exercise asks you to write yourself")
    return (f"your function calls {shown}, {what} ({exercise.forbidden_hint}). It would pass, but you would "
            f"not have learnt it.")


PACKAGE_OWN = " (the package's own)"


def _package_implementations(exercise: Exercise) -> list:
    """``(label, function)`` of the package's own versions of the exercise: its reference and every function of
    an imported ``lmrl_course`` module (outside ``lmrl_course.exercises``) named like the exercise. A learner's
    function must not call them; :class:`sandbox.CallMonitor` recognises them by identity."""
    found, seen = [], set()
    candidates = [exercise.reference]
    for modname, mod in list(sys.modules.items()):
        if mod is None or not modname.startswith("lmrl_course.") or modname.startswith("lmrl_course.exercises"):
            continue
        fn = vars(mod).get(exercise.name)
        if callable(fn) and getattr(fn, "__module__", None) == modname:
            candidates.append(fn)
    for fn in candidates:
        code = getattr(fn, "__code__", None)
        if code is None or code in seen:
            continue
        seen.add(code)
        found.append((f"{fn.__module__}.{fn.__name__}{PACKAGE_OWN}", fn))
    return found


# --------------------------------------------------------------------------- the check itself

def _check_job(exercise: Exercise, fn, cases, expected, ref_grads, reporter: sandbox.Reporter,
               cpu_limit: Optional[float]) -> dict:
    """Run ``fn`` on every case and judge it; returns a JSON-able verdict dict.

    Runs in the sandbox's copy of the process (``cpu_limit=None``: the parent enforces the limit)
    or in-process (``cpu_limit`` set). Every call of the learner's code goes through
    :func:`sandbox.call_guarded`, so the session is restored before anything is compared."""
    printed = io.StringIO()
    worst = 0.0
    n = len(cases)
    forbidden_seen: dict[str, str] = {}   # forbidden name -> the first case that called it
    own = _package_implementations(exercise)

    def verdict(status, message, case=None, err=None):
        return {"status": status, "message": message, "case": case, "max_abs_error": err,
                "printed": _clip_printed(printed.getvalue())}

    for i, case in enumerate(cases):
        label = f"case {i + 1}/{n} ({case.description})"
        reporter.send(step=label)
        pristine = (_clone(case.args), _clone(case.kwargs))
        args, kwargs = _clone(case.args), _clone(case.kwargs)
        call = sandbox.call_guarded(fn, args, kwargs, forbidden=exercise.forbidden, cpu_seconds=cpu_limit,
                                    stdout=printed, also_forbidden=own)
        problem = _call_problem(call, exercise)
        if problem:
            return verdict(FAIL, f"{label}: {problem}", case.description)
        if exercise.inputs_read_only:
            mutated = _mutated_argument(exercise, case, pristine, (args, kwargs))
            if mutated:
                return verdict(FAIL, f"{label}: {mutated}", case.description)
        f64 = (exercise.float64_atol, exercise.float64_rtol)
        problem, err = compare_outputs(expected[i], call.value, exercise.atol, exercise.rtol, exercise.check_dtype,
                                       nan_hint=exercise.nan_hint, float64_tol=f64)
        if exercise.compare is not None and problem is None:
            try:
                problem = exercise.compare(expected[i], call.value)
            except Exception as exc:  # noqa: BLE001
                problem = f"could not compare the output: {_describe_exception(exc)}"
        if problem:
            return verdict(FAIL, f"{label}: {problem}", case.description, None if math.isnan(err) else err)
        if not math.isnan(err):
            worst = max(worst, err)
        if exercise.check_grad:
            reporter.send(step=f"{label}, backward pass")
            grad_call = sandbox.call_guarded(_learner_grads, (fn, exercise, case, exercise.seed + i), {},
                                             forbidden=exercise.forbidden, cpu_seconds=cpu_limit, stdout=printed,
                                             also_forbidden=own)
            problem = _call_problem(grad_call, exercise, "the backward pass ")
            if problem:
                return verdict(FAIL, f"{label}: {problem}", case.description)
            got_grads, why = grad_call.value
            if why:
                return verdict(FAIL, f"{label}: {why}", case.description)
            for arg, ref_grad in ref_grads[i].items():
                problem, err = compare_outputs(ref_grad, got_grads[arg], exercise.atol * 10, exercise.rtol * 10, True,
                                               where=f"the gradient with respect to {arg}",
                                               float64_tol=(f64[0] * 10, f64[1] * 10))
                if problem:
                    return verdict(FAIL, f"{label}: {problem}", case.description)
        for name in call.forbidden:
            forbidden_seen.setdefault(name, label)
    if forbidden_seen:  # right values, but from the built-in the exercise rebuilds
        label = next(iter(forbidden_seen.values()))
        return verdict(FAIL, f"{label}: {_forbidden_message(exercise, list(forbidden_seen))}",
                       label.split(" (", 1)[1].rsplit(")", 1)[0])
    grads = " and gradients" if exercise.check_grad else ""
    return verdict(PASS, f"all {n} cases match the reference{grads} (max abs error {worst:.2g}). Well done!",
                   None, worst)


def _call_problem(call: sandbox.Call, exercise: Exercise, what: str = "") -> Optional[str]:
    if call.kind == "ok":
        return None
    if call.kind == "timeout":
        return _timeout_message(exercise, what)
    if call.kind == "exit":
        return (f"{what}called sys.exit({'' if call.value is None else repr(call.value)}) (or exit/quit). "
                "That would end the whole notebook's kernel; return a value instead")
    if call.kind == "interrupted":
        return f"{what}was interrupted (KeyboardInterrupt)"
    exc = call.error
    if isinstance(exc, NotImplementedError):
        return (f"{what}raised {_describe_exception(exc)}: your function is not finished — a part of it "
                "still raises NotImplementedError")
    if isinstance(exc, RecursionError):
        return f"{what}raised RecursionError: does your function call itself without end?"
    return f"{what}raised {_describe_exception(exc)}"


def wall_limit(exercise: Exercise) -> float:
    """The wall-clock cap of one call: far above its CPU limit, for a loaded machine; it stops code
    that waits or sleeps."""
    return max(8 * exercise.time_limit_s, 20.0)


def _timeout_message(exercise: Exercise, what: str = "", clock: str = "cpu") -> str:
    if clock == "wall":
        return (f"{what}did not finish within {wall_limit(exercise):g} s of wall-clock time and was stopped. "
                "Is it waiting for something (input(), time.sleep, a lock)?")
    return (f"{what}did not finish within {exercise.time_limit_s:g} s of CPU time and was stopped. "
            "An endless loop?")


def run_check(exercise: Exercise, fn: Any) -> CheckResult:
    """Check ``fn`` against ``exercise`` on all its cases; never raises for a learner's mistake.

    The session (default dtype, RNG states, torch's attributes, ...) is exactly as before afterwards."""
    if fn is None or not callable(fn):
        return CheckResult(exercise, NOT_ATTEMPTED if fn is None else FAIL,
                           "nothing to check: pass your function itself (without calling it), "
                           f"got {type(fn).__name__}", None)
    if is_untouched_stub(fn):
        first = None
        return CheckResult(exercise, NOT_ATTEMPTED, NOT_ATTEMPTED_MESSAGE, fn, case=first)
    with sandbox.preserved_session():
        try:
            with torch.random.fork_rng(devices=[]):
                torch.set_default_dtype(torch.float32)
                torch.set_grad_enabled(True)
                cases = exercise.make_cases()
                expected = [exercise.reference(*_clone(c.args), **_clone(c.kwargs)) for c in cases]
                ref_grads = ([_reference_grads(exercise, c, exercise.seed + i) for i, c in enumerate(cases)]
                             if exercise.check_grad else None)
        except Exception as exc:  # noqa: BLE001 - a broken catalogue is the course's bug, say so plainly
            return CheckResult(exercise, FAIL, f"internal error building the test cases: {_describe_exception(exc)}", fn)
        torch.set_default_dtype(torch.float32)
        torch.set_grad_enabled(True)
        mode = sandbox.sandbox_mode()
        steps = {"label": None}
        if mode == "fork":
            def job(reporter):
                return _check_job(exercise, fn, cases, expected, ref_grads, reporter, None)

            def on_event(event):
                if "step" in event:
                    steps["label"] = event["step"]
            try:
                out = sandbox.run_forked(job, cpu_seconds_per_step=exercise.time_limit_s,
                                         wall_seconds_per_step=wall_limit(exercise), on_event=on_event)
            except KeyboardInterrupt:
                return CheckResult(exercise, FAIL, "the check was interrupted (KeyboardInterrupt)", fn)
        else:
            out = _check_job(exercise, fn, cases, expected, ref_grads, sandbox.Reporter(None), exercise.time_limit_s)
    return _result_from(exercise, fn, out, steps["label"])


def _result_from(exercise: Exercise, fn, out: dict, step: Optional[str]) -> CheckResult:
    outcome = out.get("outcome")
    where = f"{step}: " if step else ""
    case = step.split(" (", 1)[1].rsplit(")", 1)[0] if step and " (" in step else None
    if outcome == "timeout":
        what = "the backward pass " if step and step.endswith("backward pass") else ""
        return CheckResult(exercise, FAIL, where + _timeout_message(exercise, what, out.get("clock", "cpu")), fn,
                           case=case)
    if outcome == "died":
        if out.get("signal"):
            why = f"crashed the process that ran it (signal {out['signal']})"
        else:
            why = (f"ended the process that ran it (os._exit({out.get('exit')}) or similar). That would end "
                   "the notebook's kernel; return a value instead")
        return CheckResult(exercise, FAIL, where + "your function " + why, fn, case=case)
    if outcome == "internal":
        return CheckResult(exercise, FAIL, f"internal error of the checker: {out.get('error')}", fn, case=case)
    message = _with_printed(out["message"], out.get("printed", ""))
    return CheckResult(exercise, out["status"], message, fn, case=out.get("case"),
                       max_abs_error=out.get("max_abs_error"), printed=out.get("printed", ""))
