# Reshapes to (N, group, K / group) instead of (N, K / group, group): each "group" is
# then every (K / group)-th column of the row, not `group` consecutive columns.
def quantize_per_group(w, group):
    n, k = w.shape
    blocks = w.reshape(n, group, k // group)
    scale = blocks.abs().amax(dim=1) / 127  # (N, K / group)
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.round(blocks / safe[:, None, :]).clamp(-127, 127)
    return q.reshape(n, k).to(torch.int8), scale


def dequantize_per_group(q, scale):
    n, k = q.shape
    blocks = q.reshape(n, -1, scale.shape[1]).to(scale.dtype)
    return (blocks * scale[:, None, :]).reshape(n, k)
