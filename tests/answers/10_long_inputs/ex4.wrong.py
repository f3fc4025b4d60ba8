# Forgets the row sum of the softmax's Jacobian: dS = P * dP instead of
# P * (dP - rowsum(dO * O)).
def attention_grads(q, k, v, dout):
    scale = q.shape[-1] ** -0.5
    p = torch.softmax(q @ k.transpose(-1, -2) * scale, dim=-1)
    dv = p.transpose(-1, -2) @ dout
    ds = p * (dout @ v.transpose(-1, -2))
    return ds @ k * scale, ds.transpose(-1, -2) @ q * scale, dv
