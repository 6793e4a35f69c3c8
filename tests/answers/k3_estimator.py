WRONG = {
    "the ratio the wrong way round (π_θ/π_ref)": '''def k3_estimator(logp, ref_logp):
    log_r = logp - ref_logp
    return log_r.expm1() - log_r
''',
    "k1 instead of k3 (can be negative)": '''def k3_estimator(logp, ref_logp):
    return logp - ref_logp
''',
    "k2 instead of k3": '''def k3_estimator(logp, ref_logp):
    return 0.5 * (logp - ref_logp) ** 2
''',
    "sign of the log term flipped": '''def k3_estimator(logp, ref_logp):
    log_r = ref_logp - logp
    return log_r.expm1() + log_r
''',
}
VALID = {
    "exp written out": '''def k3_estimator(logp, ref_logp):
    r = torch.exp(ref_logp - logp)
    return (r - 1) - torch.log(r)
''',
    "in terms of the log-ratio l = logp − ref_logp": '''def k3_estimator(logp, ref_logp):
    l = logp - ref_logp
    return torch.exp(-l) - 1 + l
''',
}

# ---- added by the held-out review (exreview): answers that passed, or failed, when they should not have
VALID['ref_logp detached (the reference model is frozen)'] = '''def k3_estimator(logp, ref_logp):
    log_r = ref_logp.detach() - logp
    return torch.expm1(log_r) - log_r
'''
