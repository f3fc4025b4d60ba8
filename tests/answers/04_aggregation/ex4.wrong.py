# Positions counted from 1: the soft pointer is off by one.
def expected_position(q, k, mask=None):
    B, Lk = k.shape[0], k.shape[-2]
    positions = torch.arange(1, Lk + 1, dtype=q.dtype, device=q.device)
    out, _ = xattn.attention(q, k, positions[None, :, None].expand(B, Lk, 1), mask)
    return out[..., 0]
