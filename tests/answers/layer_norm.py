WRONG = {
    "unbiased variance (torch's x.var() divides by C - 1)": '''def layer_norm(x, weight, bias, eps=1e-5):
    mu = x.mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(x.var(-1, keepdim=True) + eps) * weight + (0 if bias is None else bias)
''',
    "eps added to the standard deviation, outside the square root": '''def layer_norm(x, weight, bias, eps=1e-5):
    mu = x.mean(-1, keepdim=True)
    sd = ((x - mu) ** 2).mean(-1, keepdim=True).sqrt()
    y = (x - mu) / (sd + eps) * weight
    return y if bias is None else y + bias
''',
    "normalises over the batch/positions (dim 0) instead of the channels": '''def layer_norm(x, weight, bias, eps=1e-5):
    mu = x.mean(0, keepdim=True)
    var = ((x - mu) ** 2).mean(0, keepdim=True)
    y = (x - mu) / torch.sqrt(var + eps) * weight
    return y if bias is None else y + bias
''',
    "variance as E[x²] − E[x]²: cancels catastrophically when the mean is large": '''def layer_norm(x, weight, bias, eps=1e-5):
    mu = x.mean(-1, keepdim=True)
    var = (x * x).mean(-1, keepdim=True) - mu * mu
    y = (x - mu) / torch.sqrt(var + eps) * weight
    return y if bias is None else y + bias
''',
    "forgets the gain and bias": '''def layer_norm(x, weight, bias, eps=1e-5):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps)
''',
    "no mean subtraction (RMSNorm, a different normalisation)": '''def layer_norm(x, weight, bias, eps=1e-5):
    y = x / torch.sqrt((x ** 2).mean(-1, keepdim=True) + eps) * weight
    return y if bias is None else y + bias
''',
}
VALID = {
    "var_mean with correction=0 and rsqrt": '''def layer_norm(x, weight, bias, eps=1e-5):
    var, mu = torch.var_mean(x, dim=-1, keepdim=True, correction=0)
    y = (x - mu) * torch.rsqrt(var + eps) * weight
    if bias is not None:
        y = y + bias
    return y
''',
    "the unbiased variance rescaled by (C - 1) / C": '''def layer_norm(x, weight, bias, eps=1e-5):
    C = x.shape[-1]
    var = x.var(dim=-1, keepdim=True) * (C - 1) / C
    y = (x - x.mean(dim=-1, keepdim=True)) / (var + eps) ** 0.5
    return torch.addcmul(torch.zeros_like(y) if bias is None else bias.expand_as(y), y, weight.expand_as(y))
''',
}

WRONG.update({
    "calls F.layer_norm, the function the check compares with": '''def layer_norm(x, weight, bias, eps=1e-5):
    return F.layer_norm(x, x.shape[-1:], weight, bias, eps)
''',
    "torch.layer_norm under another name": '''from torch import layer_norm as _ln


def layer_norm(x, weight, bias, eps=1e-5):
    return _ln(x, x.shape[-1:], weight, bias, eps)
''',
})
