"""The exercise widget: a verdict plus "Check", "Hint" and "Show solution" buttons.

Callbacks only set widget state (``HTML.value``, ``Button.description``); they never print into an
``Output``, so what JupyterLab shows and what nbval replays are the same.
"""
from __future__ import annotations

import html

import ipywidgets as widgets

from .core import FAIL, NOT_ATTEMPTED, PASS, CheckResult, run_check

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
        """The learner's function as it is now: re-running its cell rebinds the name."""
        fn = self.result.learner_function
        name = getattr(fn, "__name__", None)
        namespace = getattr(fn, "__globals__", None)
        if name and isinstance(namespace, dict) and callable(namespace.get(name)):
            return namespace[name]
        return fn

    def _on_check(self, _button=None):
        new = run_check(self.result.exercise, self._latest_function())
        # update the result in place so that `result.function` follows the latest verdict
        self.result.status, self.result.message = new.status, new.message
        self.result.learner_function, self.result.case = new.learner_function, new.case
        self.result.max_abs_error = new.max_abs_error
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
