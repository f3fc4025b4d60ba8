# The RNN view: carry the state S and the normalizer z from one position to the next.
def causal_kernel_attention(q, k, v, w):
    scale = q.shape[-1] ** -0.25
    phi_q = positive_features(q * scale, w, stabilize="row")  # (..., L, M)
    phi_k = positive_features(k * scale, w, stabilize="all")  # (..., L, M)
    state = torch.zeros(*phi_k.shape[:-2], w.shape[0], v.shape[-1], dtype=v.dtype)
    z = torch.zeros(*phi_k.shape[:-2], w.shape[0], dtype=v.dtype)
    outs = []
    for i in range(q.shape[-2]):
        state = state + phi_k[..., i, :, None] * v[..., i, None, :]  # (..., M, Dv)
        z = z + phi_k[..., i, :]
        num = (phi_q[..., i, :, None] * state).sum(-2)  # (..., Dv)
        outs.append(num / (phi_q[..., i, :] * z).sum(-1, keepdim=True))
    return torch.stack(outs, dim=-2)
