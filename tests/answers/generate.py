import runpy
from pathlib import Path

_BODY = '''@torch.no_grad()
def generate(params, config, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, seed=0):
    generator = GENERATOR
    for _ in range(max_new_tokens):
        logits, _ = gpt_forward(CONTEXT, params, config)
        z = LAST
        if temperature == 0:
            next_id = z.argmax(dim=-1, keepdim=True)
        else:
            FILTERS
            next_id = torch.multinomial(torch.softmax(z, dim=-1), 1, generator=generator)
        idx = torch.cat([idx, next_id], dim=1)
    return RETURN
'''
_DEFAULTS = dict(
    GENERATOR="torch.Generator().manual_seed(seed)",
    CONTEXT="idx[:, -config.block_size:]",
    LAST="logits[:, -1, :]",
    FILTERS='''z = z / temperature
            if top_k is not None:
                z = top_k_filter(z, top_k)
            if top_p is not None:
                z = top_p_filter(z, top_p)''',
    RETURN="idx",
)


_fill = runpy.run_path(str(Path(__file__).with_name("_template.py")))["variant"]   # the shared hole-filler


def _variant(**changes):
    return _fill(_BODY, _DEFAULTS, **changes)


WRONG = {
    "no cropping: the context grows past block_size": _variant(CONTEXT="idx"),
    "samples from the FIRST position's logits": _variant(LAST="logits[:, 0, :]"),
    "top-p applied before dividing by the temperature": _variant(FILTERS='''if top_k is not None:
                z = top_k_filter(z, top_k)
            if top_p is not None:
                z = top_p_filter(z, top_p)
            z = z / temperature'''),
    "a fresh generator every step: the same uniform draw each time":
        _variant(GENERATOR="None", FILTERS='''z = z / temperature
            if top_k is not None:
                z = top_k_filter(z, top_k)
            if top_p is not None:
                z = top_p_filter(z, top_p)
            generator = torch.Generator().manual_seed(seed)'''),
    "returns only the new tokens, without the prompt": _variant(RETURN="idx[:, -max_new_tokens:]"),
    "temperature multiplies the logits instead of dividing them": _variant(FILTERS='''z = z * temperature
            if top_k is not None:
                z = top_k_filter(z, top_k)
            if top_p is not None:
                z = top_p_filter(z, top_p)'''),
}
VALID = {
    "one token at a time into a list, context cropped by slicing from max(0, T - block_size)": '''def generate(params, config, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, seed=0):
    gen = torch.Generator()
    gen.manual_seed(seed)
    tokens = [idx]
    out = idx
    with torch.no_grad():
        for step in range(max_new_tokens):
            start = max(0, out.shape[1] - config.block_size)
            z = gpt_forward(out[:, start:], params, config)[0][:, -1]
            if temperature == 0:
                nxt = torch.argmax(z, dim=-1)[:, None]
            else:
                z = z / temperature
                z = z if top_k is None else top_k_filter(z, top_k)
                z = z if top_p is None else top_p_filter(z, top_p)
                nxt = torch.multinomial(F.softmax(z, dim=-1), num_samples=1, generator=gen)
            tokens.append(nxt)
            out = torch.cat(tokens, dim=1)
    return out
''',
    "top-k written out with a sorted threshold, probabilities renormalised by hand": '''def generate(params, config, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    for _ in range(max_new_tokens):
        with torch.no_grad():
            logits, _ = gpt_forward(idx[:, -config.block_size:], params, config)
        z = logits[:, -1, :]
        if temperature == 0:
            idx = torch.cat([idx, z.argmax(-1, keepdim=True)], dim=1)
            continue
        z = z / temperature
        if top_k is not None and top_k < z.shape[-1]:
            kth = z.sort(dim=-1, descending=True).values[:, top_k - 1:top_k]
            z = torch.where(z < kth, torch.full_like(z, float("-inf")), z)
        if top_p is not None:
            z = top_p_filter(z, top_p)
        e = torch.exp(z - z.max(dim=-1, keepdim=True).values)
        probs = e / e.sum(dim=-1, keepdim=True)
        idx = torch.cat([idx, torch.multinomial(probs, 1, generator=g)], dim=1)
    return idx
''',
}
