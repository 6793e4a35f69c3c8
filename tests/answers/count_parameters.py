"""Answers for the exercise `count_parameters` (notebook 03): see README.md in this folder.

The notebook asks for the count "from the config alone (no model)"."""

import runpy
from pathlib import Path

WRONG = {  # each must FAIL
    "counts the output layer: the LM head is tied to the token embedding": '''def count_parameters(config):
    C, V, L = config.n_embd, config.vocab_size, config.n_layer
    b = 1 if config.bias else 0
    per_block = 12 * C * C + b * 9 * C + 2 * (C + b * C)
    return V * C + config.block_size * C + L * per_block + (C + b * C) + V * C
''',
    "forgets the position embedding": '''def count_parameters(config):
    C, V, L = config.n_embd, config.vocab_size, config.n_layer
    b = 1 if config.bias else 0
    per_block = 12 * C * C + b * 9 * C + 2 * (C + b * C)
    return V * C + L * per_block + (C + b * C)
''',
    "forgets the final LayerNorm": '''def count_parameters(config):
    C, V, L = config.n_embd, config.vocab_size, config.n_layer
    b = 1 if config.bias else 0
    per_block = 12 * C * C + b * 9 * C + 2 * (C + b * C)
    return V * C + config.block_size * C + L * per_block
''',
    "bias=False also drops the LayerNorm gains": '''def count_parameters(config):
    C, V, L = config.n_embd, config.vocab_size, config.n_layer
    b = 1 if config.bias else 0
    per_block = 12 * C * C + b * (9 * C + 4 * C)
    return V * C + config.block_size * C + L * per_block + b * 2 * C
''',
    "ignores config.bias: always counts the biases": '''def count_parameters(config):
    C, V, L = config.n_embd, config.vocab_size, config.n_layer
    per_block = 12 * C * C + 9 * C + 4 * C
    return V * C + config.block_size * C + L * per_block + 2 * C
''',
    "MLP hidden width C instead of 4C": '''def count_parameters(config):
    C, V, L = config.n_embd, config.vocab_size, config.n_layer
    b = 1 if config.bias else 0
    attn = 4 * C * C + b * 4 * C
    mlp = 2 * C * C + b * 2 * C
    return V * C + config.block_size * C + L * (attn + mlp + 2 * (C + b * C)) + (C + b * C)
''',
    "one C x 3C attention matrix per head (multiplies by n_head)": '''def count_parameters(config):
    C, V, L, H = config.n_embd, config.vocab_size, config.n_layer, config.n_head
    b = 1 if config.bias else 0
    attn = H * 3 * C * C + b * 3 * C + C * C + b * C
    mlp = 8 * C * C + b * 5 * C
    return V * C + config.block_size * C + L * (attn + mlp + 2 * (C + b * C)) + (C + b * C)
''',
    "one LayerNorm per block instead of two": '''def count_parameters(config):
    C, V, L = config.n_embd, config.vocab_size, config.n_layer
    b = 1 if config.bias else 0
    per_block = 12 * C * C + b * 9 * C + (C + b * C)
    return V * C + config.block_size * C + L * per_block + (C + b * C)
''',
    "c_proj biases forgotten (only c_attn and c_fc counted)": '''def count_parameters(config):
    C, V, L = config.n_embd, config.vocab_size, config.n_layer
    b = 1 if config.bias else 0
    per_block = 12 * C * C + b * (3 * C + 4 * C) + 2 * (C + b * C)
    return V * C + config.block_size * C + L * per_block + (C + b * C)
''',
    "builds the model and counts its tensors (the notebook asks for the config alone)": '''from lmrl_course.gpt import GPT


def count_parameters(config):
    return sum(p.numel() for p in GPT(config).parameters())
''',
}

VALID = {  # each must PASS
    "closed form: V·C + T·C + L·(12C² + 2C [+ 11C]) + C [+ C]": '''def count_parameters(config):
    C, L = config.n_embd, config.n_layer
    extra = 11 * C if config.bias else 0
    return (config.vocab_size + config.block_size) * C + L * (12 * C ** 2 + 2 * C + extra) + C + (C if config.bias else 0)
''',
    "a table of the parameter shapes, summed with math.prod, with a print": '''def count_parameters(config):
    C = config.n_embd
    shapes = [(config.vocab_size, C), (config.block_size, C)]          # wte, wpe
    for _ in range(config.n_layer):
        shapes += [(C,), (3 * C, C), (C, C), (C,), (4 * C, C), (C, 4 * C)]  # ln_1, c_attn, c_proj, ln_2, c_fc, c_proj
        if config.bias:
            shapes += [(C,), (3 * C,), (C,), (C,), (4 * C,), (C,)]
    shapes += [(C,)] + ([(C,)] if config.bias else [])                # ln_f
    print(len(shapes), "parameter tensors")
    return sum(math.prod(s) for s in shapes)
''',
    "a float of the right value (arithmetic with 12.0)": '''def count_parameters(config):
    C, L = config.n_embd, config.n_layer
    b = 1.0 if config.bias else 0.0
    per_block = 12.0 * C * C + 2 * C + b * 11 * C
    return (config.vocab_size + config.block_size) * C + L * per_block + C * (1 + b)
''',
    "a 0-d tensor of the right value": '''def count_parameters(config):
    C, L = config.n_embd, config.n_layer
    b = int(config.bias)
    per_block = 12 * C * C + 2 * C + b * 11 * C
    return torch.tensor((config.vocab_size + config.block_size) * C + L * per_block + C * (1 + b))
''',
    "a NumPy integer (np.int64) of the right value": '''def count_parameters(config):
    C = config.n_embd
    sizes = np.array([config.vocab_size * C, config.block_size * C,
                      config.n_layer * (12 * C * C + 2 * C + (11 * C if config.bias else 0)),
                      C * (2 if config.bias else 1)], dtype=np.int64)
    return sizes.sum()
''',
}


# ---- more answers, written independently by another engineer (labels kept distinct)
_BODY = '''def count_parameters(config):
    C, V, L = config.n_embd, config.vocab_size, config.n_layer
    b = BIAS
    emb = V * C + POS + UNTIED
    attn = 3 * C * C + b * 3 * C + C * C + b * C
    mlp = MLP * C * C + b * MLP * C + MLP * C * C + b * C
    lns = LNS
    return emb + L * (attn + mlp + lns) + FINAL
'''
_DEFAULTS = dict(BIAS="(1 if config.bias else 0)", POS="config.block_size * C", UNTIED="0", MLP="4",
                 LNS="2 * (C + b * C)", FINAL="(C + b * C)")


_fill = runpy.run_path(str(Path(__file__).with_name("_template.py")))["variant"]   # the shared hole-filler


def _variant(**changes):
    return _fill(_BODY, _DEFAULTS, **changes)


WRONG.update({  # more wrong answers, written independently
    "counts the tied output layer a second time": _variant(UNTIED="V * C"),
    "forgets the position embedding (2)": _variant(POS="0"),
    "an MLP of width 2C": _variant(MLP="2"),
    "forgets the LayerNorms": _variant(LNS="0", FINAL="0"),
    "ignores config.bias": _variant(BIAS="1"),
})
VALID.update({  # more valid answers, written independently
    "the closed form 12LC² + 13LC + ...": '''def count_parameters(config):
    C, V, T, L = config.n_embd, config.vocab_size, config.block_size, config.n_layer
    if config.bias:
        return V * C + T * C + L * (12 * C * C + 13 * C) + 2 * C
    return V * C + T * C + L * (12 * C * C + 2 * C) + C
''',
    "a table of shapes, summed": '''def count_parameters(config):
    C, V = config.n_embd, config.vocab_size
    shapes = [(V, C), (config.block_size, C), (C,)]                      # E, P, ln_f gain
    block = [(C,), (3 * C, C), (C, C), (C,), (4 * C, C), (C, 4 * C)]     # gains and weights
    if config.bias:
        shapes.append((C,))
        block += [(C,), (3 * C,), (C,), (C,), (4 * C,), (C,)]
    shapes += block * config.n_layer
    return sum(math.prod(s) for s in shapes)
''',
})
