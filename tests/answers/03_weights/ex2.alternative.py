# Masks by hand with -inf and zeroes the rows that see nothing, without masked_softmax.
def tempered_masked_softmax(scores, mask, temperature):
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise ValueError(f"temperature must be a number, got {temperature!r}")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}")
    visible = mask.expand_as(scores)
    any_key = visible.any(dim=-1, keepdim=True)
    shifted = torch.where(visible | ~any_key, scores / temperature, float("-inf"))
    return torch.where(visible, shifted.softmax(dim=-1), 0.0)
