"""Answers for the exercise `split_heads` (notebook 02): see README.md in this folder."""

WRONG = {  # each must FAIL
    "view straight to (B, H, T, hs): right shape, positions and channels mixed": '''def split_heads(x, n_head):
    B, T, C = x.shape
    return x.view(B, n_head, T, C // n_head)
''',
    "forgets the transpose: returns (B, T, H, hs)": '''def split_heads(x, n_head):
    B, T, C = x.shape
    return x.view(B, T, n_head, C // n_head)
''',
    "strided heads: (B, T, hs, H) then permute, head h gets channels h, h + H, ...": '''def split_heads(x, n_head):
    B, T, C = x.shape
    return x.view(B, T, C // n_head, n_head).permute(0, 3, 1, 2)
''',
    "hs = C / n_head is a float: view() rejects it": '''def split_heads(x, n_head):
    B, T, C = x.shape
    return x.view(B, T, n_head, C / n_head).transpose(1, 2)
''',
    "transposes the wrong pair of axes (2, 3): (B, T, hs, H)": '''def split_heads(x, n_head):
    B, T, C = x.shape
    return x.view(B, T, n_head, C // n_head).transpose(2, 3)
''',
    "chunks into n_head pieces along time instead of channels": '''def split_heads(x, n_head):
    B, T, C = x.shape
    return torch.stack(x.chunk(n_head, dim=1), dim=1).reshape(B, n_head, T, C // n_head)
''',
    "passes n_head as the head size: view(B, T, n_head, n_head)": '''def split_heads(x, n_head):
    B, T, C = x.shape
    return x.view(B, T, n_head, n_head).transpose(1, 2)
''',
}

VALID = {  # each must PASS
    "stack the channel slices of each head (a fresh, contiguous tensor)": '''def split_heads(x, n_head):
    hs = x.shape[-1] // n_head
    return torch.stack(x.split(hs, dim=-1), dim=1)            # (B, H, T, hs)
''',
    "reshape with -1 and permute": '''def split_heads(x, n_head):
    B, T, C = x.shape
    return x.reshape(B, T, n_head, -1).permute(0, 2, 1, 3)
''',
    "unflatten the channel axis, then swap": '''def split_heads(x, n_head):
    return x.unflatten(-1, (n_head, -1)).transpose(-3, -2)
''',
    "a loop over heads into a fresh tensor, with a print": '''def split_heads(x, n_head):
    B, T, C = x.shape
    hs = C // n_head
    out = x.new_empty(B, n_head, T, hs)
    for h in range(n_head):
        out[:, h] = x[:, :, h * hs:(h + 1) * hs]
    print(f"(B, T, C) = {(B, T, C)} -> (B, H, T, hs) = {tuple(out.shape)}")
    return out
''',
}
