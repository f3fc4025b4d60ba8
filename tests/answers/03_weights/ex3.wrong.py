# Forgets the diagonal term: -p p^T alone.
def softmax_jacobian(weights):
    return -weights[..., :, None] * weights[..., None, :]
