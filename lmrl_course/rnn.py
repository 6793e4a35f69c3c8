"""Recurrent networks: an LSTM cell written from its equations, the garbled cell that some write-ups
print, character models (GRU, LSTM) for the same budget as notebook 03's GPT, and a small memory task.

The LSTM cell in PyTorch's layout (``nn.LSTMCell``): the four gates are stacked in the rows of
``W_ih`` (4H, D) and ``W_hh`` (4H, H) in the order i, f, g, o, and

    [ĩ; f̃; g̃; õ] = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh            (4H,)
    i_t = σ(ĩ)    input gate        f_t = σ(f̃)    forget gate
    g_t = tanh(g̃) candidate        o_t = σ(õ)    output gate
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t                                  (cell state)
    h_t = o_t ⊙ tanh(c_t)                                            (hidden state)

⊙ is the element-wise (Hadamard) product: (a ⊙ b)_j = a_j b_j, a vector of H numbers, not a dot
product Σ_j a_j b_j (one number). Shape letters: B batch, T time steps, D input width, H hidden
width, written d_h in NOTATION.md (H in the shapes below is d_h, not a number of attention heads).
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .validation import require_in_range, require_tensor

Weights = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]  # W_ih, W_hh, b_ih, b_hh


def _check_cell_args(x, h, c, W_ih, W_hh, b_ih, b_hh) -> None:
    require_tensor(x, "x", ndim=(1, 2), kind="float", dims="(B, D) or (D,)")
    require_tensor(h, "h", ndim=x.dim(), kind="float", dims="(B, d_h) like x")
    require_tensor(c, "c", ndim=x.dim(), kind="float", dims="(B, d_h) like x")
    require_tensor(W_ih, "W_ih", ndim=2, kind="float", dims="(4·d_h, D)")
    require_tensor(W_hh, "W_hh", ndim=2, kind="float", dims="(4·d_h, d_h)")
    require_tensor(b_ih, "b_ih", ndim=1, kind="float", dims="(4·d_h,)")
    require_tensor(b_hh, "b_hh", ndim=1, kind="float", dims="(4·d_h,)")
    H, D = h.shape[-1], x.shape[-1]
    expected = {"W_ih": (4 * H, D), "W_hh": (4 * H, H), "b_ih": (4 * H,), "b_hh": (4 * H,)}
    for name, t in zip(expected, (W_ih, W_hh, b_ih, b_hh)):
        if tuple(t.shape) != expected[name]:
            raise ValueError(f"{name} must have shape {expected[name]} for D = {D} inputs and d_h = {H} hidden "
                             f"units (gates i, f, g, o stacked), got {tuple(t.shape)}")
    if c.shape != h.shape:
        raise ValueError(f"c and h must have the same shape, got {tuple(c.shape)} and {tuple(h.shape)}")
    if x.dim() == 2 and x.shape[0] != h.shape[0]:
        raise ValueError(f"x and h must have the same batch size, got {x.shape[0]} and {h.shape[0]}")


def lstm_cell(x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, W_ih: torch.Tensor, W_hh: torch.Tensor,
              b_ih: torch.Tensor, b_hh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step, equal to ``nn.LSTMCell`` with the same weights (module docstring for the equations).

    x: (B, D) or (D,); h, c: (B, H) or (H,); W_ih (4H, D), W_hh (4H, H), b_ih, b_hh (4H,), rows
    stacked in the gate order i, f, g, o. Returns (h_t, c_t), each shaped like h.
    """
    _check_cell_args(x, h, c, W_ih, W_hh, b_ih, b_hh)
    gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh            # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=-1)                       # 4 x (B, H)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c + i * g                                         # (B, H): element-wise products
    h = o * torch.tanh(c)                                     # (B, H)
    return h, c


def garbled_lstm_cell(x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, W_ih: torch.Tensor, W_hh: torch.Tensor,
                      b_ih: torch.Tensor, b_hh: torch.Tensor, dot_product: bool = True, blind_gates: bool = True
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """The LSTM as some write-ups print it, run literally with the same weights as :func:`lstm_cell`.

        f_t = σ(W_f h_{t-1} + b_f)          i_t = σ(W_i h_{t-1} + b_i)      (no x_t in either gate)
        g_t = tanh(W_g x_t + U_g h_{t-1} + b_g)   o_t = σ(W_o x_t + U_o h_{t-1} + b_o)
        c_t = F_t "⊙" c_{t-1} + i_t "⊙" g_t,      h_t = o_t ⊙ tanh(c_t)

    ``F_t`` is never defined there; it is read as f_t. With ``dot_product=True`` the two products of
    the cell update are the dot products the text calls them, ``F_t · c_{t-1} + i_t · g_t`` — one
    number per sequence, broadcast to all H units of c_t; with ``False`` they are element-wise and only
    the blind gates remain wrong. With ``blind_gates=False`` the i and f gates read x_t as in
    :func:`lstm_cell`, so ``dot_product=True, blind_gates=False`` isolates the dot-product error and
    ``dot_product=False, blind_gates=False`` is the correct cell.
    """
    _check_cell_args(x, h, c, W_ih, W_hh, b_ih, b_hh)
    H = h.shape[-1]
    from_x = x @ W_ih.T                                       # (B, 4H)
    if blind_gates:
        from_x = torch.cat([torch.zeros_like(from_x[..., :2 * H]), from_x[..., 2 * H:]], dim=-1)  # i, f never see x
    gates = from_x + b_ih + h @ W_hh.T + b_hh                 # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=-1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    if dot_product:
        c = ((f * c).sum(-1, keepdim=True) + (i * g).sum(-1, keepdim=True)).expand_as(c)  # (B, 1) -> (B, H)
    else:
        c = f * c + i * g
    h = o * torch.tanh(c)
    return h, c


def run_cell(cell: Callable, x: torch.Tensor, weights: Weights, h0: Optional[torch.Tensor] = None,
             c0: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Unroll ``cell(x_t, h, c, *weights) -> (h, c)`` over x (B, T, D) from h_0 = c_0 = 0 (or h0, c0).

    Returns (h_1..h_T stacked as (B, T, H), (h_T, c_T))."""
    require_tensor(x, "x", ndim=3, kind="float", dims="(B, T, D)")
    B, H = x.shape[0], weights[1].shape[1]
    h = x.new_zeros(B, H) if h0 is None else h0
    c = x.new_zeros(B, H) if c0 is None else c0
    hs = []
    for t in range(x.shape[1]):
        h, c = cell(x[:, t], h, c, *weights)                  # (B, H) each
        hs.append(h)
    return torch.stack(hs, dim=1), (h, c)                     # (B, T, H)


# ============================================================================ character models

class CharRNN(nn.Module):
    """A recurrent character model: h_t = cell(h_{t-1}, E[x_t]), z_t = W h_t + b, h_0 = 0.

    ``kind`` is ``"gru"`` (``nn.GRU``) or ``"lstm"`` (``nn.LSTM``, which also carries c_t). Called
    like the package's GPT: ``model(idx, targets) -> (logits (B, T, V), loss or None)``, so
    ``lm_trainer.train_lm`` and ``evaluate_split(..., block_size=T)`` train and score it.
    """

    def __init__(self, vocab_size: int, n_embd: int = 64, hidden: int = 144, kind: str = "gru"):
        super().__init__()
        for name, v in (("vocab_size", vocab_size), ("n_embd", n_embd), ("hidden", hidden)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"CharRNN.{name} must be a positive int, got {v!r}")
        if kind not in ("gru", "lstm"):
            raise ValueError(f"CharRNN.kind must be 'gru' or 'lstm', got {kind!r}")
        self.kind = kind
        self.wte = nn.Embedding(vocab_size, n_embd)                        # E: (V, n_embd)
        self.rnn = (nn.GRU if kind == "gru" else nn.LSTM)(n_embd, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)                          # W, b

    def forward(self, idx: torch.Tensor, targets: Optional[torch.Tensor] = None):
        require_tensor(idx, "idx", ndim=2, kind="int", dims="(B, T)")
        h, _ = self.rnn(self.wte(idx))                                     # (B, T, hidden): h_1 .. h_T
        logits = self.head(h)                                              # (B, T, V)
        loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss


def CharGRU(vocab_size: int, n_embd: int = 64, hidden: int = 144) -> CharRNN:
    """Notebook 03's GRU: 104,305 parameters for V = 65."""
    return CharRNN(vocab_size, n_embd, hidden, kind="gru")


def CharLSTM(vocab_size: int, n_embd: int = 64, hidden: int = 122) -> CharRNN:
    """An LSTM with about the GRU's parameter count: hidden 122 gives 103,899 parameters for V = 65
    (an LSTM layer has 4 gate blocks where a GRU has 3, so the same count needs a narrower state)."""
    return CharRNN(vocab_size, n_embd, hidden, kind="lstm")


# ============================================================================ a memory task

def recall_batch(batch_size: int, n_symbols: int, delay: int, generator: Optional[torch.Generator] = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """The recall task: a sequence of ``delay + 1`` random symbols from n_symbols; the target is the
    FIRST one, to be named after reading the last. Returns (x one-hot (B, delay+1, n_symbols), y (B,)).
    A model that cannot carry x_1 through ``delay`` steps scores the chance loss ln(n_symbols)."""
    for name, v in (("batch_size", batch_size), ("n_symbols", n_symbols), ("delay", delay)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    require_in_range(batch_size, "batch_size", 1)
    require_in_range(n_symbols, "n_symbols", 2)
    require_in_range(delay, "delay", 0)
    ids = torch.randint(n_symbols, (batch_size, delay + 1), generator=generator)   # (B, T)
    return F.one_hot(ids, n_symbols).float(), ids[:, 0]


def init_lstm_weights(input_size: int, hidden: int, generator: Optional[torch.Generator] = None,
                      dtype=torch.float32) -> Weights:
    """(W_ih, W_hh, b_ih, b_hh) drawn like ``nn.LSTMCell``: U(−1/√H, 1/√H)."""
    k = 1.0 / math.sqrt(hidden)
    shapes = [(4 * hidden, input_size), (4 * hidden, hidden), (4 * hidden,), (4 * hidden,)]
    return tuple((torch.rand(s, generator=generator, dtype=dtype) * 2 - 1) * k for s in shapes)


def train_recall(cell: Callable, seed: int, n_symbols: int = 8, delay: int = 10, hidden: int = 32,
                 steps: int = 300, batch_size: int = 64, lr: float = 1e-2, eval_size: int = 512) -> dict:
    """Train ``cell`` (e.g. :func:`lstm_cell` or :func:`garbled_lstm_cell`), unrolled by :func:`run_cell`
    with a linear read-out of h_T, on :func:`recall_batch` with Adam. The weights and the batches come
    from ``seed`` alone, so two cells trained with one seed start from the same weights and see the
    same batches. Returns ``{"train_loss": [...], "eval_loss": float, "eval_accuracy": float}``
    (eval on ``eval_size`` fresh sequences; chance is ln(n_symbols) and 1/n_symbols)."""
    gen = torch.Generator().manual_seed(seed)
    params = [w.requires_grad_(True) for w in init_lstm_weights(n_symbols, hidden, gen)]
    k = 1.0 / math.sqrt(hidden)
    readout = [((torch.rand(n_symbols, hidden, generator=gen) * 2 - 1) * k).requires_grad_(True),
               torch.zeros(n_symbols, requires_grad=True)]
    opt = torch.optim.Adam(params + readout, lr=lr)

    def loss_of(x, y):
        _, (h, _) = run_cell(cell, x, tuple(params))         # h_T: (B, H)
        logits = h @ readout[0].T + readout[1]                # (B, n_symbols)
        return F.cross_entropy(logits, y), logits

    losses = []
    for _ in range(steps):
        x, y = recall_batch(batch_size, n_symbols, delay, gen)
        loss, _ = loss_of(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        x, y = recall_batch(eval_size, n_symbols, delay, gen)
        loss, logits = loss_of(x, y)
    return {"train_loss": losses, "eval_loss": loss.item(),
            "eval_accuracy": (logits.argmax(-1) == y).float().mean().item()}


__all__ = ["lstm_cell", "garbled_lstm_cell", "run_cell", "CharRNN", "CharGRU", "CharLSTM", "recall_batch",
           "init_lstm_weights", "train_recall"]
