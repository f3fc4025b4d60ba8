# The softmax's full Jacobian, diag(p) - p p^T, per row, applied with einsum.
def attention_grads(q, k, v, dout):
    d = q.shape[-1]
    scores = torch.einsum("...qd,...kd->...qk", q, k) / math.sqrt(d)
    p = torch.softmax(scores, dim=-1)
    dv = torch.einsum("...qk,...qd->...kd", p, dout)
    dp = torch.einsum("...qd,...kd->...qk", dout, v)
    jacobian = torch.diag_embed(p) - p[..., :, None] * p[..., None, :]  # (..., q, k, k)
    ds = torch.einsum("...qjk,...qk->...qj", jacobian, dp)
    dq = torch.einsum("...qk,...kd->...qd", ds, k) / math.sqrt(d)
    dk = torch.einsum("...qk,...qd->...kd", ds, q) / math.sqrt(d)
    return dq, dk, dv
