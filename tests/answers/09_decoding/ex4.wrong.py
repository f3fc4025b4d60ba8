# Attends over the earlier positions only and appends afterwards: the newest position
# never sees itself.
def self_attention_step(q, k, v, cache):
    keys, values = (k, v) if cache is None else cache
    scores = q @ keys.transpose(-2, -1) / math.sqrt(q.shape[-1])
    out = scores.softmax(-1) @ values
    if cache is not None:
        keys, values = torch.cat([keys, k], dim=2), torch.cat([values, v], dim=2)
    return out, (keys, values)
