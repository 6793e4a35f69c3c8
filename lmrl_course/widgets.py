"""Interactive figures that behave the same in JupyterLab and under nbval.

:class:`PlotWidget` redraws a Matplotlib figure into an ``ipywidgets.Image`` whenever a control
(slider, dropdown, checkbox) changes. The callback only sets widget state — it never prints or
displays inside an ``Output`` widget — so a notebook's stored output and nbval's replay agree. Its
plain-text form is a short, stable summary (the controls' values and the caption), not a memory
address or PNG bytes.
"""
from __future__ import annotations

import html
import io
from typing import Callable, Mapping, Optional

import ipywidgets as widgets
from matplotlib.figure import Figure


def figure_to_png(fig: Figure, dpi: int = 90) -> bytes:
    """Render ``fig`` to PNG bytes (no pyplot state involved)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


class PlotWidget(widgets.VBox):
    """Controls above a figure that ``draw(fig, **values)`` redraws on every change.

    ``draw`` receives a fresh ``matplotlib.figure.Figure`` and the current control values by name;
    it may return a string, shown as a caption under the figure (HTML-escaped).

    Example::

        PlotWidget(draw_softmax, {"temperature": widgets.FloatSlider(value=1, min=0.1, max=3)})
    """

    def __init__(self, draw: Callable[..., Optional[str]], controls: Mapping[str, widgets.Widget],
                 figsize: tuple[float, float] = (6.0, 3.2), dpi: int = 90, title: str = ""):
        if not callable(draw):
            raise TypeError("draw must be a function draw(fig, **values)")
        for name, control in controls.items():
            if not hasattr(control, "value"):
                raise TypeError(f"control {name!r} must be a widget with a .value (a slider, dropdown, ...)")
        self.draw, self.controls, self.figsize, self.dpi = draw, dict(controls), figsize, dpi
        self.image = widgets.Image(format="png")
        self.caption = widgets.HTML("")
        self.caption_text = ""
        header = [widgets.HTML(f"<b>{html.escape(title)}</b>")] if title else []
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        super().__init__(header + list(self.controls.values()) + [self.image, self.caption])
        self.redraw()

    @property
    def values(self) -> dict:
        return {name: control.value for name, control in self.controls.items()}

    def redraw(self) -> None:
        fig = Figure(figsize=self.figsize)
        text = self.draw(fig, **self.values)
        self.image.value = figure_to_png(fig, self.dpi)
        self.caption_text = "" if text is None else str(text)
        self.caption.value = f"<pre style='margin:0'>{html.escape(self.caption_text)}</pre>" if text else ""

    def _on_change(self, change) -> None:
        self.redraw()

    def __repr__(self) -> str:
        vals = ", ".join(f"{k}={_short(v)}" for k, v in self.values.items())
        text = f"PlotWidget({vals})"
        return text + (f"\n{self.caption_text}" if self.caption_text else "")


def _short(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else repr(v)


__all__ = ["PlotWidget", "figure_to_png"]
