"""Tests for lmrl_course.data: tokenizer, split, batches, bigram counts (references: Python loops)."""
import json
from collections import Counter

import pytest
import torch

from lmrl_course.data import CharTokenizer, bigram_counts, get_batch, load_text, train_val_split



@pytest.fixture(scope="module")
def text():
    return load_text()


def test_load_text_default_is_tiny_shakespeare(text):
    assert len(text) == 1115394
    assert text.startswith("First Citizen:")


def test_tokenizer_vocab_and_round_trip(text):
    tok = CharTokenizer.from_text(text)
    assert tok.vocab_size == len(set(text)) == 65
    assert tok.chars == sorted(set(text))
    for i in range(tok.vocab_size):
        assert tok.stoi[tok.itos[i]] == i
    s = text[:1000]
    ids = tok.encode(s)
    vocab = sorted(set(text))
    assert ids == [vocab.index(c) for c in s]
    assert tok.decode(ids) == s
    assert tok.decode(torch.tensor(ids)) == s


def test_tokenizer_dict_is_json_and_round_trips(text):
    tok = CharTokenizer.from_text(text)
    d = json.loads(json.dumps(tok.to_dict()))
    tok2 = CharTokenizer.from_dict(d)
    assert tok2.stoi == tok.stoi and tok2.itos == tok.itos


def test_tokenizer_errors():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.encode("abd")
    with pytest.raises(ValueError, match="out of range"):
        tok.decode([0, 3])
    with pytest.raises(TypeError):
        tok.decode(torch.tensor([0.0, 1.0]))
    with pytest.raises(TypeError):
        tok.encode(5)


def test_train_val_split_is_first_90_last_10():
    ids = torch.arange(1000)
    tr, va = train_val_split(ids)
    assert len(tr) == 900 and len(va) == 100
    assert torch.equal(torch.cat([tr, va]), ids)
    assert tr[-1] == 899 and va[0] == 900
    tr, va = train_val_split(ids, 0.25)
    assert len(va) == 250
    with pytest.raises(ValueError):
        train_val_split(ids, 0.0)


def test_get_batch_windows_are_shifted_slices(device):
    data = torch.randint(0, 50, (500,), generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(0)
    x, y = get_batch(data, block_size=8, batch_size=6, generator=g, device=device)
    assert x.shape == y.shape == (6, 8)
    assert x.dtype == y.dtype == torch.int64
    assert x.device.type == device.type
    x, y = x.cpu(), y.cpu()
    assert torch.equal(x[:, 1:], y[:, :-1])
    # each row is data[i:i+T] for a start i that the same seed reproduces
    starts = torch.randint(500 - 8, (6,), generator=torch.Generator().manual_seed(0))
    for b, i in enumerate(starts.tolist()):
        assert torch.equal(x[b], data[i:i + 8]) and torch.equal(y[b], data[i + 1:i + 9])


def test_get_batch_seeded_generator_repeats():
    data = torch.arange(1000)
    a = get_batch(data, 16, 4, generator=torch.Generator().manual_seed(3))
    b = get_batch(data, 16, 4, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_get_batch_errors():
    with pytest.raises(ValueError, match="block_size"):
        get_batch(torch.arange(10), 10, 2)
    with pytest.raises(TypeError):
        get_batch(torch.rand(100), 4, 2)


def test_bigram_counts_vs_loop():
    ids = torch.randint(0, 7, (2000,), generator=torch.Generator().manual_seed(0))
    N = bigram_counts(ids, 7)
    pairs = Counter(zip(ids[:-1].tolist(), ids[1:].tolist()))
    expected = torch.zeros(7, 7, dtype=torch.int64)
    for (a, b), c in pairs.items():
        expected[a, b] = c
    assert torch.equal(N, expected)
    assert N.sum() == len(ids) - 1
    with pytest.raises(ValueError):
        bigram_counts(ids, 5)
