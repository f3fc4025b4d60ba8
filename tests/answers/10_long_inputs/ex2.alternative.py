# Side a's share is sigmoid(lse_a - lse_b); the sides where a query sees nothing are
# handled apart.
def merge_attention(out_a, lse_a, out_b, lse_b):
    empty_a, empty_b = torch.isinf(lse_a), torch.isinf(lse_b)  # lse is never +inf
    diff = torch.where(empty_a | empty_b, torch.zeros_like(lse_a), lse_a - lse_b)
    share_a = torch.sigmoid(diff)
    share_a = torch.where(empty_b, torch.ones_like(share_a), share_a)
    share_a = torch.where(empty_a, torch.zeros_like(share_a), share_a)
    out = share_a[..., None] * out_a + (1 - share_a[..., None]) * out_b
    out = torch.where((empty_a & empty_b)[..., None], torch.zeros_like(out), out)
    return out, torch.logaddexp(lse_a, lse_b)
