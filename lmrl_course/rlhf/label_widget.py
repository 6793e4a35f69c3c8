"""Be the annotator: a widget that shows two lines and records which one you prefer.

Callbacks only set widget state (HTML values), so the notebook's stored output and a replay agree.
The labels can become a :class:`~lmrl_course.rlhf.reward_model.PreferenceData` to train a reward model.
"""
from __future__ import annotations

import html
from typing import Optional, Sequence

__all__ = ["LabelWidget"]


class LabelWidget:
    """Shows pairs ``(texts_a[i], texts_b[i])`` one at a time; buttons record "A", "B" or "skip".

    ``labels`` is a list of ``(chosen, rejected)`` strings. When an ``annotator`` is given, the status
    line also says how often you agreed with it.
    """

    def __init__(self, texts_a: Sequence[str], texts_b: Sequence[str], annotator=None):
        import ipywidgets as widgets

        if len(texts_a) != len(texts_b) or not texts_a:
            raise ValueError("texts_a and texts_b must be non-empty lists of the same length")
        self.texts_a, self.texts_b, self.annotator = list(texts_a), list(texts_b), annotator
        self.i = 0
        self.labels: list = []
        self.agree = 0
        self.judged = 0
        self.pair = widgets.HTML()
        self.status = widgets.HTML()
        self.buttons = [widgets.Button(description=d) for d in ("A is better", "B is better", "skip")]
        for b, choice in zip(self.buttons, (0, 1, None)):
            b.on_click(lambda _b, c=choice: self.record(c))
        self.box = widgets.VBox([self.pair, widgets.HBox(self.buttons), self.status])
        self._show()

    def record(self, choice: Optional[int]) -> None:
        """Record a choice for the current pair (0 = A, 1 = B, None = skip) and show the next pair."""
        if self.i >= len(self.texts_a):
            return
        a, b = self.texts_a[self.i], self.texts_b[self.i]
        if choice is not None:
            self.labels.append((a, b) if choice == 0 else (b, a))
            if self.annotator is not None:
                theirs = self.annotator.prefer(a, b)
                if theirs is not None:
                    self.judged += 1
                    self.agree += int(theirs == choice)
        self.i += 1
        self._show()

    def _show(self) -> None:
        if self.i < len(self.texts_a):
            a, b = (html.escape(t) for t in (self.texts_a[self.i], self.texts_b[self.i]))
            self.pair.value = (f"<b>pair {self.i + 1} of {len(self.texts_a)}</b><br><tt>A: {a}</tt><br><tt>B: {b}</tt>")
        else:
            self.pair.value = "<b>all pairs done</b>"
        self.status.value = html.escape(self.summary())

    def summary(self) -> str:
        text = f"{len(self.labels)} labels recorded"
        if self.annotator is not None and self.judged:
            text += f"; you agreed with the annotator on {self.agree} of {self.judged}"
        return text

    def to_preference_data(self, tokenizer, max_new_tokens: int, eos_id: Optional[int] = None):
        """Your labels as PreferenceData (chosen first)."""
        from .reward_model import PreferenceData, encode_responses

        if not self.labels:
            raise ValueError("no labels recorded yet: click A or B first")
        c, cm = encode_responses([x for x, _ in self.labels], tokenizer, max_new_tokens, eos_id)
        r, rm = encode_responses([y for _, y in self.labels], tokenizer, max_new_tokens, eos_id)
        return PreferenceData(c, cm, r, rm, [x for x, _ in self.labels], [y for _, y in self.labels])

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = dict(self.box._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        return f"LabelWidget({len(self.texts_a)} pairs; {self.summary()})"
