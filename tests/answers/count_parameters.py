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


def _variant(**changes):
    src = _BODY
    for key, value in {**_DEFAULTS, **changes}.items():
        src = src.replace(key, value)
    return src


WRONG = {
    "counts the tied output layer a second time": _variant(UNTIED="V * C"),
    "forgets the position embedding": _variant(POS="0"),
    "an MLP of width 2C": _variant(MLP="2"),
    "forgets the LayerNorms": _variant(LNS="0", FINAL="0"),
    "ignores config.bias": _variant(BIAS="1"),
}
VALID = {
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
}
