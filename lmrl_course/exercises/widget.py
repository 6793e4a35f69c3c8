"""The exercise widget: a verdict plus "Check", "Hint" and "Show solution" buttons.

Callbacks only set widget state (``HTML.value``, ``Button.description``); they never print into an
``Output``, so what JupyterLab shows and what nbval replays are the same.
"""
from __future__ import annotations

import html

import ipywidgets as widgets

from .core import FAIL, NOT_ATTEMPTED, PASS, CheckResult, run_check
from .sandbox import is_package_code

_COLOURS = {PASS: ("#e6f4ea", "#1e7d32"), FAIL: ("#fdecea", "#b71c1c"), NOT_ATTEMPTED: ("#fff8e1", "#8d6e00")}


def verdict_html(result: CheckResult) -> str:
    bg, fg = _COLOURS.get(result.status, ("#eeeeee", "#333333"))
    body = html.escape(result.message)
    extra = ("" if result.passed else
             "<br><small>Until it passes, the notebook carries on with the reference implementation.</small>")
    return (f'<div class="lmrl-verdict" style="background:{bg};color:{fg};padding:6px 10px;border-radius:4px">'
            f'<b>[{result.status}]</b> {body}{extra}</div>')


class ExerciseWidget(widgets.VBox):
    """Check / Hint / Show solution for one exercise. ``repr`` is the plain-text verdict."""

    def __init__(self, result: CheckResult):
        self.result = result
        track(result)
        ex = result.exercise
        self.title = widgets.HTML(f"<b>Exercise <code>{html.escape(ex.name)}</code>:</b> {html.escape(ex.title)}")
        self.check_button = widgets.Button(description="Check", button_style="primary", icon="check",
                                           tooltip="Re-run the checker on your latest version of the function")
        self.hint_button = widgets.Button(description=f"Hint (0/{len(ex.hints)})", icon="lightbulb-o")
        self.solution_button = widgets.Button(description="Show solution", icon="eye")
        self.verdict = widgets.HTML(verdict_html(result))
        self.hints = widgets.HTML("")
        self.solution = widgets.HTML("")
        self.hints_shown = 0
        self.check_button.on_click(self._on_check)
        self.hint_button.on_click(self._on_hint)
        self.solution_button.on_click(self._on_solution)
        super().__init__([self.title,
                          widgets.HBox([self.check_button, self.hint_button, self.solution_button]),
                          self.verdict, self.hints, self.solution])

    def __repr__(self) -> str:
        return self.result.text

    def _latest_function(self):
        """The learner's latest own definition of the function (see :func:`latest_definition`)."""
        return latest_definition(self.result)

    def _on_check(self, _button=None):
        try:
            fn = self._latest_function()
            if fn is None:
                self.result.status, self.result.message = NOT_ATTEMPTED, (
                    "no function of yours to check: the name now refers to the course's reference. "
                    "Re-run your exercise cell, then press Check.")
                self.result.learner_function = None
            else:
                new = run_check(self.result.exercise, fn)
                # update the result in place so that `result.function` follows the latest verdict
                self.result.status, self.result.message = new.status, new.message
                self.result.learner_function, self.result.case = new.learner_function, new.case
                self.result.max_abs_error, self.result.printed = new.max_abs_error, new.printed
        except BaseException as exc:  # noqa: BLE001 - a button click must never take the kernel down
            self.result.status = FAIL
            self.result.message = f"the checker itself failed ({type(exc).__name__}); please report this"
        self.verdict.value = verdict_html(self.result)

    def _on_hint(self, _button=None):
        hints = self.result.exercise.hints
        if self.hints_shown < len(hints):
            self.hints_shown += 1
        items = "".join(f"<li>{html.escape(h)}</li>" for h in hints[: self.hints_shown])
        self.hints.value = f"<ol>{items}</ol>"
        self.hint_button.description = f"Hint ({self.hints_shown}/{len(hints)})"
        self.hint_button.disabled = self.hints_shown >= len(hints)

    def _on_solution(self, _button=None):
        if self.solution.value:
            self.solution.value = ""
            self.solution_button.description = "Show solution"
        else:
            code = html.escape(self.result.exercise.solution.strip())
            self.solution.value = f"<pre style='background:#f6f8fa;padding:8px'>{code}</pre>"
            self.solution_button.description = "Hide solution"


# --------------------------------------------------------------------------- the learner's definition

def is_learner_definition(obj, exercise) -> bool:
    """True for a callable the learner wrote (or bound) themselves: not the exercise's reference and
    not any other function of the course's package (e.g. ``result.function`` of a failed check)."""
    if obj is None or not callable(obj):
        return False
    if obj is exercise.reference or is_package_code(obj):
        return False
    return True


def latest_definition(result: CheckResult):
    """The function the Check button checks: the learner's latest own definition of its name.

    Notebooks rebind the name after the check (``log_softmax = result.function``), so the name may
    point at the course's reference; that is never checked. The learner's definitions are tracked
    after every cell (:func:`track`); without IPython, the namespace is read now. ``None`` when no
    definition of the learner's is known."""
    fn = result.learner_function
    name = getattr(fn, "__name__", None) or getattr(result, "_name", None)
    namespace = getattr(fn, "__globals__", None) or getattr(result, "_namespace", None)
    if not isinstance(name, str) or not isinstance(namespace, dict):
        return fn if is_learner_definition(fn, result.exercise) else None
    key = (id(namespace), name)
    current = namespace.get(name)
    if is_learner_definition(current, result.exercise):
        _LATEST[key] = current
        return current
    latest = _LATEST.get(key)
    if latest is not None:
        return latest
    return fn if is_learner_definition(fn, result.exercise) else None


_LATEST: dict = {}      # (id(namespace), name) -> the learner's latest own definition
_TRACKED: dict = {}     # (id(namespace), name) -> (namespace, exercise)
_HOOKED = [False]


def track(result: CheckResult) -> None:
    """Remember the learner's own definitions of ``result``'s function name after every cell.

    In IPython a ``post_run_cell`` hook looks the name up after each cell: when it holds a function of
    the learner's (not the reference), that becomes the one Check checks. So re-running the exercise
    cell after ``name = result.function`` is still seen."""
    fn = result.learner_function
    name, namespace = getattr(fn, "__name__", None), getattr(fn, "__globals__", None)
    if not isinstance(name, str) or not isinstance(namespace, dict):
        return
    key = (id(namespace), name)
    _TRACKED[key] = (namespace, result.exercise)
    if is_learner_definition(fn, result.exercise):
        _LATEST[key] = fn
    if _HOOKED[0]:
        return
    try:
        from IPython import get_ipython
        ip = get_ipython()
    except Exception:  # noqa: BLE001
        ip = None
    if ip is not None and hasattr(ip, "events"):
        ip.events.register("post_run_cell", _after_cell)
        _HOOKED[0] = True


def _after_cell(*_args, **_kwargs) -> None:
    for key, (namespace, exercise) in list(_TRACKED.items()):
        try:
            current = namespace.get(key[1])
            if is_learner_definition(current, exercise):
                _LATEST[key] = current
        except Exception:  # noqa: BLE001 - a hook must never disturb the learner's cells
            pass
