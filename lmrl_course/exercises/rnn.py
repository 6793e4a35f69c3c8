"""Exercises of notebook 02b (embeddings and recurrent networks).

- ``lstm_cell``: one LSTM step from its equations, in PyTorch's weight layout (gates i, f, g, o
  stacked in the rows of W_ih (4·d_h, D) and W_hh (4·d_h, d_h), d_h the hidden width of NOTATION.md,
  PyTorch's "H", not the heads H); the reference is the package's
  :func:`lmrl_course.rnn.lstm_cell`, which the tests check against ``nn.LSTMCell``.
"""
from __future__ import annotations

import torch

from ..rnn import lstm_cell as _lstm_cell
from . import register
from .core import Case, Exercise


def _lstm_args(g: torch.Generator, B, D, d_h, scale=1.0, dtype=torch.float32):
    """x, h, c, W_ih, W_hh, b_ih, b_hh for D inputs and d_h hidden units, B = None for one unbatched step."""
    lead = () if B is None else (B,)
    r = lambda *shape: torch.randn(*shape, generator=g, dtype=dtype)
    return (r(*lead, D) * scale, r(*lead, d_h) * 0.5, r(*lead, d_h),
            r(4 * d_h, D) * scale / D ** 0.5, r(4 * d_h, d_h) / d_h ** 0.5, r(4 * d_h) * 0.5, r(4 * d_h) * 0.5)


def _lstm_cases(g: torch.Generator):
    return [
        Case("a batch: x (3, 5), h and c (3, 4), so D = 5 inputs and d_h = 4 hidden units", _lstm_args(g, 3, 5, 4)),
        Case("more hidden units than inputs: D = 2, d_h = 6, a batch of 4", _lstm_args(g, 4, 2, 6)),
        Case("one unbatched step: x (D,) = (7,), h and c (d_h,) = (3,)", _lstm_args(g, None, 7, 3)),
        Case("large inputs (x10): saturated gates; sigmoid for i, f, o and tanh for g",
             _lstm_args(g, 5, 4, 4, scale=10.0)),
        Case("float64 input: keep the dtype", _lstm_args(g, 2, 3, 5, dtype=torch.float64)),
    ]


register(Exercise(
    name="lstm_cell",
    title="An LSTM cell from its equations (PyTorch's layout)",
    reference=_lstm_cell,
    forbidden=("torch.lstm_cell", "torch._VF.lstm_cell", "torch.nn.LSTMCell.forward", "torch.nn.LSTM.forward"),
    forbidden_hint="the four gates from one affine map, their sigmoids and tanh, and the two state updates are "
                   "the exercise; nn.LSTMCell is what the check compares with",
    cases=_lstm_cases,
    hints=[
        "All four gates come out of ONE affine map: gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh, shape "
        "(B, 4·d_h) (or (4·d_h,) without a batch), d_h the hidden width. Its last axis holds the pre-activations "
        "of i, f, g, o, in that order.",
        "i, f, g, o = gates.chunk(4, dim=-1); then i, f, o go through torch.sigmoid (they are gates, in (0, 1)) "
        "and g through torch.tanh (it is the candidate content, in (-1, 1)).",
        "c_new = f * c + i * g and h_new = o * torch.tanh(c_new): `*` is the element-wise product ⊙, not a dot "
        "product. Return (h_new, c_new), in that order.",
    ],
    solution='''import torch


def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh        # (B, 4·d_h): i, f, g, o stacked
    i, f, g, o = gates.chunk(4, dim=-1)                   # 4 x (B, d_h)
    i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
    g = torch.tanh(g)
    c = f * c + i * g                                     # element-wise: keep, then write
    h = o * torch.tanh(c)                                 # element-wise: expose
    return h, c
''',
    atol=1e-5, rtol=1e-5, check_grad=True,
    nan_hint="sigmoid and tanh never overflow in torch; look for a division or a log",
))


# ============================================================================ embeddings

def cosine_similarity_matrix(E: torch.Tensor) -> torch.Tensor:
    """S[a, b] = E[a]·E[b] / (‖E[a]‖ ‖E[b]‖) for the rows of E (V, C): a (V, V) matrix, 1 on the diagonal."""
    from ..validation import require_tensor

    require_tensor(E, "E", ndim=2, kind="float", dims="(V, C)")
    unit = E / E.norm(dim=1, keepdim=True)                 # (V, C), each row of length 1
    return unit @ unit.T                                  # (V, V)


def _cosine_cases(g: torch.Generator):
    spread = torch.randn(6, 4, generator=g) * torch.tensor([[0.01], [1.0], [100.0], [3.0], [0.5], [10.0]])
    return [
        Case("random embeddings E (10, 4)", (torch.randn(10, 4, generator=g),)),
        Case("rows of very different lengths (0.01 to 100): cosine ignores the length", (spread,)),
        Case("more dimensions than rows: E (3, 16)", (torch.randn(3, 16, generator=g),)),
        Case("opposite and equal directions: E = [[1, 2], [-2, -4], [3, 6]] gives ±1",
             (torch.tensor([[1.0, 2.0], [-2.0, -4.0], [3.0, 6.0]]),)),
        Case("float64 input: keep the dtype", (torch.randn(5, 3, generator=g, dtype=torch.float64),)),
    ]


register(Exercise(
    name="cosine_similarity_matrix",
    title="Cosine similarity between every pair of embeddings",
    reference=cosine_similarity_matrix,
    cases=_cosine_cases,
    hints=[
        "cos(a, b) = a·b / (‖a‖ ‖b‖): the dot product of the two vectors after each is scaled to length 1. "
        "Do it for all pairs at once with one matrix product.",
        "The length of each ROW: E.norm(dim=1, keepdim=True), shape (V, 1). Divide E by it, then "
        "multiply the result by its own transpose: (V, C) @ (C, V) -> (V, V).",
        "unit = E / E.norm(dim=1, keepdim=True); return unit @ unit.T",
    ],
    solution='''def cosine_similarity_matrix(E):
    unit = E / E.norm(dim=1, keepdim=True)    # (V, C): every row scaled to length 1
    return unit @ unit.T                      # (V, V): S[a, b] = cos(E[a], E[b])
''',
    atol=1e-5, rtol=1e-5, check_grad=True,
))
