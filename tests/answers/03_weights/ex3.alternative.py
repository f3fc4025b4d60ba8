# diag(p) from an identity matrix, p p^T from einsum.
def softmax_jacobian(weights):
    eye = torch.eye(weights.shape[-1], dtype=weights.dtype, device=weights.device)
    return eye * weights[..., None, :] - torch.einsum(
        "...i,...j->...ij", weights, weights
    )
