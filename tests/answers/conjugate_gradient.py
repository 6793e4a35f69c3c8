"""Answers for the conjugate_gradient exercise (notebook 06): solve A x = b given only v ↦ A v."""

WRONG = {  # each must FAIL
    "β inverted: rᵀr / r_newᵀr_new": '''def conjugate_gradient(Avp, b, iters=10, tol=1e-10):
    x, r, p = torch.zeros_like(b), b.clone(), b.clone()
    rr = r @ r
    for _ in range(iters):
        if rr < tol:
            break
        Ap = Avp(p)
        alpha = rr / (p @ Ap)
        x = x + alpha * p
        r = r - alpha * Ap
        rr_new = r @ r
        p = r + (rr / rr_new) * p
        rr = rr_new
    return x
''',
    "steepest descent: the new direction is the residual alone (no conjugation)": '''def conjugate_gradient(Avp, b, iters=10, tol=1e-10):
    x, r = torch.zeros_like(b), b.clone()
    for _ in range(iters):
        rr = r @ r
        if rr < tol:
            break
        Ar = Avp(r)
        alpha = rr / (r @ Ar)
        x = x + alpha * r
        r = r - alpha * Ar
    return x
''',
    "no early stop: b = 0 gives 0/0 = nan": '''def conjugate_gradient(Avp, b, iters=10, tol=1e-10):
    x, r, p = torch.zeros_like(b), b.clone(), b.clone()
    rr = r @ r
    for _ in range(iters):
        Ap = Avp(p)
        alpha = rr / (p @ Ap)
        x = x + alpha * p
        r = r - alpha * Ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x
''',
    "residual updated with A x instead of A p": '''def conjugate_gradient(Avp, b, iters=10, tol=1e-10):
    x, r, p = torch.zeros_like(b), b.clone(), b.clone()
    rr = r @ r
    for _ in range(iters):
        if rr < tol:
            break
        Ap = Avp(p)
        alpha = rr / (p @ Ap)
        x = x + alpha * p
        r = r - alpha * Avp(x)
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x
''',
    "returns the residual b − A x instead of x": '''def conjugate_gradient(Avp, b, iters=10, tol=1e-10):
    x, r, p = torch.zeros_like(b), b.clone(), b.clone()
    rr = r @ r
    for _ in range(iters):
        if rr < tol:
            break
        Ap = Avp(p)
        alpha = rr / (p @ Ap)
        x = x + alpha * p
        r = r - alpha * Ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
    return r
''',
}

VALID = {  # each must PASS
    "residual recomputed as b − A x every iteration (two products per step)": '''def conjugate_gradient(Avp, b, iters=10, tol=1e-10):
    x = torch.zeros_like(b)
    r = b - Avp(x)
    p = r.clone()
    for _ in range(iters):
        rr = r @ r
        if rr < tol:
            break
        Ap = Avp(p)
        alpha = rr / (p @ Ap)
        x = x + alpha * p
        r = b - Avp(x)
        p = r + ((r @ r) / rr) * p
    return x
''',
    "in-place updates on its own buffers, Polak-Ribière β (equal to Fletcher-Reeves in exact CG)": '''def conjugate_gradient(Avp, b, iters=10, tol=1e-10):
    x = torch.zeros_like(b)
    r = b.clone()
    p = b.clone()
    k = 0
    while k < iters and r @ r >= tol:
        Ap = Avp(p)
        rr = r @ r
        alpha = rr / (p @ Ap)
        x.add_(alpha * p)
        r_new = r - alpha * Ap
        beta = (r_new @ (r_new - r)) / rr
        p = r_new + beta * p
        r = r_new
        k += 1
    return x
''',
}

# ---- added by the held-out review (exreview): answers that passed, or failed, when they should not have
WRONG['default iters=20 instead of 10'] = '''import torch


def conjugate_gradient(Avp, b, iters=20, tol=1e-10):
    x = torch.zeros_like(b)
    r = b.clone()                      # residual b − A x, with x = 0
    p = b.clone()                      # first search direction
    rr = r @ r
    for _ in range(iters):
        if rr < tol:
            break
        Ap = Avp(p)
        alpha = rr / (p @ Ap)          # exact minimiser along p
        x = x + alpha * p
        r = r - alpha * Ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p      # next direction, A-conjugate to the previous ones
        rr = rr_new
    return x
'''
