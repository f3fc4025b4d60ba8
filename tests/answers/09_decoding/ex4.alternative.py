# xattn.attention on the grown cache; no causal mask is needed for the newest position.
def self_attention_step(q, k, v, cache):
    keys = k if cache is None else torch.cat((cache[0], k), dim=-2)
    values = v if cache is None else torch.cat((cache[1], v), dim=-2)
    out, _ = xattn.attention(q, keys, values)
    return out, (keys, values)
