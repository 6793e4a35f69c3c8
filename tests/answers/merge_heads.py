"""Answers for the exercise `merge_heads` (notebook 02): see README.md in this folder."""

WRONG = {  # each must FAIL
    "reshape without the transpose: right shape, wrong numbers": '''def merge_heads(x):
    B, H, T, hs = x.shape
    return x.reshape(B, T, H * hs)
''',
    "transpose then view without .contiguous()": '''def merge_heads(x):
    B, H, T, hs = x.shape
    return x.transpose(1, 2).view(B, T, H * hs)
''',
    "channels interleaved: permute to (B, T, hs, H) before flattening": '''def merge_heads(x):
    B, H, T, hs = x.shape
    return x.permute(0, 2, 3, 1).reshape(B, T, H * hs)
''',
    "transposes the wrong pair of axes (2, 3)": '''def merge_heads(x):
    B, H, T, hs = x.shape
    return x.transpose(2, 3).reshape(B, T, H * hs)
''',
    "sums the heads instead of concatenating them": '''def merge_heads(x):
    return x.sum(dim=1)
''',
    "concatenates x[h] (indexes the batch) instead of x[:, h]": '''def merge_heads(x):
    B, H, T, hs = x.shape
    return torch.cat([x[h] for h in range(H)], dim=-1)
''',
    "concatenates the heads along time instead of channels": '''def merge_heads(x):
    B, H, T, hs = x.shape
    return torch.cat([x[:, h] for h in range(H)], dim=1).reshape(B, T, H * hs)
''',
}

VALID = {  # each must PASS
    "concatenate the heads along the channels": '''def merge_heads(x):
    return torch.cat(x.unbind(dim=1), dim=-1)                  # H tensors (B, T, hs) -> (B, T, H*hs)
''',
    "permute and flatten the last two axes": '''def merge_heads(x):
    return x.permute(0, 2, 1, 3).flatten(start_dim=2)
''',
    "transpose and reshape with -1": '''def merge_heads(x):
    B, H, T, hs = x.shape
    return x.transpose(1, 2).reshape(B, T, -1)
''',
    "a loop filling a fresh tensor, with a print": '''def merge_heads(x):
    B, H, T, hs = x.shape
    out = torch.empty(B, T, H * hs, dtype=x.dtype, device=x.device)
    for h in range(H):
        out[:, :, h * hs:(h + 1) * hs] = x[:, h]
    print("merged", H, "heads of size", hs)
    return out
''',
}
