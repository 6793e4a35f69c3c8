"""lmrl_course.rnn and the ``lstm_cell`` exercise: the cell equals torch's nn.LSTMCell / nn.LSTM (values
and gradients), the garbled cell is exactly the formulas it claims (its gates ignore x; with dot products
every unit of c_t holds one number), the character models have the parameter counts of their closed
formulas, and the exercise's answers file behaves (every WRONG fails, every VALID passes)."""
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from lmrl_course.exercises import FAIL, NOT_ATTEMPTED, PASS, check, get_exercise
from lmrl_course.rnn import (CharGRU, CharLSTM, CharRNN, garbled_lstm_cell, init_lstm_weights, lstm_cell,
                             recall_batch, run_cell, train_recall)

ANSWERS = Path(__file__).resolve().parent / "answers"
EXERCISES = ["lstm_cell", "cosine_similarity_matrix"]


def torch_cell(D, H, dtype, device, seed=0):
    torch.manual_seed(seed)
    return nn.LSTMCell(D, H).to(device=device, dtype=dtype)


def cell_weights(cell):
    return cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh


@pytest.mark.parametrize("B,D,H", [(3, 5, 4), (4, 2, 6), (None, 7, 3), (1, 1, 1)])
def test_lstm_cell_equals_torch_values_and_gradients(device, B, D, H):
    cell = torch_cell(D, H, torch.float64, device)
    lead = () if B is None else (B,)
    g = torch.Generator().manual_seed(1)
    x, h, c = (torch.randn(*lead, n, generator=g, dtype=torch.float64).to(device).requires_grad_(True)
               for n in (D, H, H))
    h_ref, c_ref = cell(x, (h, c))
    h_got, c_got = lstm_cell(x, h, c, *cell_weights(cell))
    torch.testing.assert_close(h_got, h_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(c_got, c_ref, rtol=1e-12, atol=1e-12)
    w_h, w_c = torch.randn_like(h_ref), torch.randn_like(c_ref)
    inputs = (x, h, c, *cell_weights(cell))
    g_ref = torch.autograd.grad((h_ref * w_h).sum() + (c_ref * w_c).sum(), inputs)
    g_got = torch.autograd.grad((h_got * w_h).sum() + (c_got * w_c).sum(), inputs)
    for a, b in zip(g_got, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_lstm_cell_float32_and_unrolled_equal_nn_lstm(device):
    torch.manual_seed(0)
    lstm = nn.LSTM(5, 4, batch_first=True).to(device)
    x = torch.randn(3, 7, 5, device=device)
    out_ref, (h_ref, c_ref) = lstm(x)
    weights = (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
    out, (h, c) = run_cell(lstm_cell, x, weights)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, out_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(h, h_ref[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(c, c_ref[0], rtol=1e-5, atol=1e-6)


def test_lstm_cell_rejects_bad_input():
    W_ih, W_hh, b_ih, b_hh = init_lstm_weights(5, 4)
    x, h, c = torch.randn(2, 5), torch.randn(2, 4), torch.randn(2, 4)
    with pytest.raises(ValueError, match=r"W_ih must have shape \(16, 5\)"):
        lstm_cell(x, h, c, W_ih.T, W_hh, b_ih, b_hh)
    with pytest.raises(ValueError, match="batch size"):
        lstm_cell(torch.randn(3, 5), h, c, W_ih, W_hh, b_ih, b_hh)
    with pytest.raises(TypeError, match="floating-point"):
        lstm_cell(x.long(), h, c, W_ih, W_hh, b_ih, b_hh)
    with pytest.raises(TypeError, match="torch.Tensor"):
        lstm_cell(x.tolist(), h, c, W_ih, W_hh, b_ih, b_hh)


# ------------------------------------------------------------------ the garbled cell

def test_garbled_cell_is_the_formulas_it_states():
    """A brute-force loop over units, written from the docstring's equations."""
    D, H, B = 3, 4, 2
    W_ih, W_hh, b_ih, b_hh = init_lstm_weights(D, H, torch.Generator().manual_seed(0), dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    x, h, c = (torch.randn(B, n, generator=g, dtype=torch.float64) for n in (D, H, H))
    sig = lambda z: 1 / (1 + math.exp(-z))
    for dot, blind in ((False, True), (True, True), (True, False), (False, False)):
        h_got, c_got = garbled_lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh, dot_product=dot, blind_gates=blind)
        for b in range(B):
            pre = lambda k, use_x: [sum(W_hh[k * H + j, m].item() * h[b, m].item() for m in range(H))
                                    + (sum(W_ih[k * H + j, d].item() * x[b, d].item() for d in range(D)) if use_x else 0)
                                    + b_ih[k * H + j].item() + b_hh[k * H + j].item() for j in range(H)]
            i = [sig(z) for z in pre(0, not blind)]
            f = [sig(z) for z in pre(1, not blind)]
            gg = [math.tanh(z) for z in pre(2, True)]
            o = [sig(z) for z in pre(3, True)]
            if dot:
                s = sum(f[j] * c[b, j].item() for j in range(H)) + sum(i[j] * gg[j] for j in range(H))
                c_new = [s] * H
            else:
                c_new = [f[j] * c[b, j].item() + i[j] * gg[j] for j in range(H)]
            h_new = [o[j] * math.tanh(c_new[j]) for j in range(H)]
            np.testing.assert_allclose(c_got[b].numpy(), c_new, rtol=1e-12)
            np.testing.assert_allclose(h_got[b].numpy(), h_new, rtol=1e-12)


def test_garbled_gates_have_zero_gradient_wrt_x_and_correct_ones_do_not():
    D, H = 5, 4
    W_ih, W_hh, b_ih, b_hh = init_lstm_weights(D, H, torch.Generator().manual_seed(0))
    x = torch.randn(3, D, requires_grad=True)
    h, c = torch.randn(3, H), torch.randn(3, H)
    # with the i and f rows of W_ih zeroed, the correct cell IS the blind-gate cell
    W_blind = W_ih.clone()
    W_blind[: 2 * H] = 0
    torch.testing.assert_close(garbled_lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh, dot_product=False),
                               lstm_cell(x, h, c, W_blind, W_hh, b_ih, b_hh))
    # and the correct cell's output does depend on those rows
    assert not torch.allclose(lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh)[1], lstm_cell(x, h, c, W_blind, W_hh, b_ih, b_hh)[1])


# ------------------------------------------------------------------ character models and the memory task

def test_char_models_parameter_counts_from_the_formula():
    V, D = 65, 64
    for model, H, gates in ((CharGRU(V), 144, 3), (CharLSTM(V), 122, 4)):
        formula = V * D + gates * (H * D + H * H + 2 * H) + (H * V + V)
        assert sum(p.numel() for p in model.parameters()) == formula
    assert formula == 103_899


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_char_rnn_loss_and_causality(kind):
    torch.manual_seed(0)
    model = CharRNN(11, n_embd=8, hidden=6, kind=kind)
    idx = torch.randint(11, (2, 9))
    logits, loss = model(idx, idx)
    assert logits.shape == (2, 9, 11)
    torch.testing.assert_close(loss, F.cross_entropy(logits.reshape(-1, 11), idx.reshape(-1)))
    idx2 = idx.clone()
    idx2[:, 5] = (idx2[:, 5] + 1) % 11
    logits2, _ = model(idx2)
    torch.testing.assert_close(logits2[:, :5], logits[:, :5])       # the future does not leak back
    assert not torch.allclose(logits2[:, 5:], logits[:, 5:])
    with pytest.raises(ValueError, match="'gru' or 'lstm'"):
        CharRNN(11, kind="rnn")
    with pytest.raises(TypeError, match="integer"):
        model(idx.float())


def test_recall_batch_targets_are_the_first_symbol():
    x, y = recall_batch(16, 5, 3, torch.Generator().manual_seed(0))
    assert x.shape == (16, 4, 5) and y.shape == (16,)
    assert torch.equal(x[:, 0].argmax(-1), y) and torch.equal(x.sum(-1), torch.ones(16, 4))
    with pytest.raises(ValueError, match="n_symbols"):
        recall_batch(4, 1, 3)
    with pytest.raises(TypeError, match="delay"):
        recall_batch(4, 5, 2.5)


def test_train_recall_learns_a_short_delay_and_is_seeded():
    a = train_recall(lstm_cell, seed=0, delay=2, hidden=16, steps=120)
    b = train_recall(lstm_cell, seed=0, delay=2, hidden=16, steps=120)
    assert a == b
    assert a["eval_accuracy"] > 0.9 and a["eval_loss"] < 0.5 < math.log(8)


# ------------------------------------------------------------------ the exercise

def load_answers(name):
    spec = importlib.util.spec_from_file_location(f"{name}_answers", ANSWERS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def answer_function(source):
    ns = {"torch": torch, "nn": nn, "F": F, "math": math, "np": np}
    before = set(ns)
    exec(source, ns)
    fns = [v for k, v in ns.items() if k not in before and callable(v)]
    return fns[-1]


@pytest.mark.parametrize("exercise", EXERCISES)
def test_exercise_reference_solution_and_unattempted(exercise):
    ex = get_exercise(exercise)
    assert check(exercise, ex.reference).status == PASS
    assert check(exercise, answer_function(ex.solution)).status == PASS
    assert ex.check_grad and len(ex.hints) >= 2

    def unattempted(*args):
        raise NotImplementedError
    assert check(exercise, unattempted).status == NOT_ATTEMPTED


@pytest.mark.parametrize("exercise", EXERCISES)
def test_exercise_answers_file(exercise):
    answers = load_answers(exercise)
    assert len(answers.WRONG) >= 3 and len(answers.VALID) >= 2
    for name, src in answers.WRONG.items():
        result = check(exercise, answer_function(src))
        assert result.status == FAIL, f"WRONG answer {name!r} got {result.status}: {result.message}"
    for name, src in answers.VALID.items():
        result = check(exercise, answer_function(src))
        assert result.status == PASS, f"VALID answer {name!r} got {result.status}: {result.message}"


def test_cosine_reference_agrees_with_torch():
    E = torch.randn(7, 5, generator=torch.Generator().manual_seed(0)) * torch.arange(1.0, 8.0)[:, None]
    S = get_exercise("cosine_similarity_matrix").reference(E)
    brute = torch.tensor([[F.cosine_similarity(E[a], E[b], dim=0).item() for b in range(7)] for a in range(7)])
    torch.testing.assert_close(S, brute)
    torch.testing.assert_close(torch.diagonal(S), torch.ones(7))


def test_exercise_reference_agrees_with_torch_on_its_own_cases():
    """The checker's cases, scored with nn.LSTMCell's functional form (torch's own kernel)."""
    for case in get_exercise("lstm_cell").make_cases():
        x, h, c, W_ih, W_hh, b_ih, b_hh = case.args
        h_t, c_t = torch.lstm_cell(x if x.dim() == 2 else x[None], (h if h.dim() == 2 else h[None],
                                   c if c.dim() == 2 else c[None]), W_ih, W_hh, b_ih, b_hh)
        h_r, c_r = lstm_cell(*case.args)
        torch.testing.assert_close(h_r.reshape(h_t.shape), h_t)
        torch.testing.assert_close(c_r.reshape(c_t.shape), c_t)
