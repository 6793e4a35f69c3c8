"""The character models of notebook 03's comparison (``rnn.CharGRU``, ``rnn.CharLSTM``) against a
reference written here from the cell equations, in float64, with the models' own weights: embedding,
h_0 = c_0 = 0, the recurrence over T steps, the read-out z_t = W h_t + b, and the mean cross-entropy.
A wrong gate order, a batch/time mix-up or a non-zero initial state would change the logits."""
import pytest
import torch
import torch.nn.functional as F

from lmrl_course.lm_trainer import evaluate_split
from lmrl_course.rnn import CharGRU, CharLSTM


def reference_logits(model, idx):
    """Unroll the cell step by step from the equations (PyTorch's layout, gates stacked in the rows)."""
    W_ih, W_hh = model.rnn.weight_ih_l0.double(), model.rnn.weight_hh_l0.double()
    b_ih, b_hh = model.rnn.bias_ih_l0.double(), model.rnn.bias_hh_l0.double()
    E = model.wte.weight.double()
    B, T = idx.shape
    H = W_hh.shape[1]
    h, c = torch.zeros(B, H, dtype=torch.float64), torch.zeros(B, H, dtype=torch.float64)
    out = []
    for t in range(T):
        x = E[idx[:, t]]                                            # (B, D)
        a_x, a_h = x @ W_ih.T + b_ih, h @ W_hh.T + b_hh               # (B, G·H) each
        if model.kind == "lstm":                                    # gates i, f, g, o
            i, f, g, o = (a_x + a_h).split(H, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        else:                                                       # gates r, z, n; r gates W_hn h + b_hn
            xr, xz, xn = a_x.split(H, dim=1)
            hr, hz, hn = a_h.split(H, dim=1)
            r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn)
            h = (1 - z) * n + z * h
        out.append(h)
    hs = torch.stack(out, dim=1)                                    # (B, T, H)
    return hs @ model.head.weight.double().T + model.head.bias.double()   # (B, T, V)


@pytest.mark.parametrize("make", [CharGRU, CharLSTM])
def test_char_models_equal_the_unrolled_equations(make):
    torch.manual_seed(0)
    V = 13
    model = make(V, n_embd=6, hidden=5)
    idx = torch.randint(V, (3, 7))                                  # B = 3, T = 7 (not square: B/T mix-ups show)
    logits, loss = model(idx, idx.roll(-1, dims=1))
    ref = reference_logits(model, idx)
    torch.testing.assert_close(logits.double(), ref, rtol=1e-5, atol=1e-5)
    ref_loss = F.cross_entropy(ref.reshape(-1, V), idx.roll(-1, dims=1).reshape(-1))
    torch.testing.assert_close(loss.double(), ref_loss, rtol=1e-5, atol=1e-5)


def test_default_sizes_are_about_the_small_gpts():
    V = 65
    n = {make.__name__: sum(p.numel() for p in make(V).parameters()) for make in (CharGRU, CharLSTM)}
    assert n == {"CharGRU": 104_305, "CharLSTM": 103_899}
    assert all(abs(v - 106_304) / 106_304 < 0.03 for v in n.values())   # notebook 03's GPT has 106,304


def test_evaluate_split_scores_a_char_model_window_by_window():
    torch.manual_seed(1)
    model = CharLSTM(11, n_embd=4, hidden=3).eval()
    data = torch.randint(11, (1 + 4 * 6 + 3,))                      # 4 windows of 6, and a remainder
    got = evaluate_split(model, data, block_size=6, batch_size=3)
    x, y = data[:24].view(4, 6), data[1:25].view(4, 6)
    ref = F.cross_entropy(reference_logits(model, x).reshape(-1, 11), y.reshape(-1))   # h_0 = 0 in each window
    assert got == pytest.approx(ref.item(), rel=1e-5)
