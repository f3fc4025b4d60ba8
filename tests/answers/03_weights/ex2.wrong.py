# Divides the weights by the temperature instead of the scores.
def tempered_masked_softmax(scores, mask, temperature):
    if not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}")
    return masked_softmax(scores, mask) / temperature
