"""Answers for the ``cosine_similarity_matrix`` exercise (notebook 02b); see README.md in this folder."""

WRONG = {  # each must FAIL
    "plain dot products E @ E.T: the lengths are not divided out": '''def cosine_similarity_matrix(E):
    return E @ E.T
''',
    "normalised over the wrong axis (columns instead of rows)": '''def cosine_similarity_matrix(E):
    unit = E / E.norm(dim=0, keepdim=True)
    return unit @ unit.T
''',
    "divided by the squared norms": '''def cosine_similarity_matrix(E):
    n2 = (E * E).sum(dim=1, keepdim=True)
    return (E @ E.T) / (n2 * n2.T)
''',
    "Euclidean distance instead of a similarity": '''def cosine_similarity_matrix(E):
    return torch.cdist(E, E)
''',
    "Gram matrix of the transposed embeddings (C, C) instead of (V, V)": '''def cosine_similarity_matrix(E):
    unit = E / E.norm(dim=1, keepdim=True)
    return unit.T @ unit
''',
}

VALID = {  # each must PASS
    "torch's F.cosine_similarity with broadcasting": '''def cosine_similarity_matrix(E):
    return F.cosine_similarity(E[:, None, :], E[None, :, :], dim=-1)
''',
    "dot products divided by the outer product of the norms": '''def cosine_similarity_matrix(E):
    norms = torch.linalg.vector_norm(E, dim=1)                 # (V,)
    return (E @ E.T) / torch.outer(norms, norms)
''',
    "F.normalize, then einsum": '''def cosine_similarity_matrix(E):
    unit = F.normalize(E, dim=1)
    return torch.einsum("ac,bc->ab", unit, unit)
''',
}
