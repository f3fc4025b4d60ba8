# Weights each side by exp(lse) directly: right for small scores, but exp overflows
# for large ones (inf / inf = nan), and two empty sides give 0 / 0.
def merge_attention(out_a, lse_a, out_b, lse_b):
    w_a, w_b = torch.exp(lse_a)[..., None], torch.exp(lse_b)[..., None]
    out = (w_a * out_a + w_b * out_b) / (w_a + w_b)
    return out, torch.log(torch.exp(lse_a) + torch.exp(lse_b))
