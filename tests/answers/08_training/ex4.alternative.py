# One field at a time, with max(...).indices.
def attended_source(example, weights):
    result = {}
    for name, (t0, t1) in TARGET_FIELDS.items():
        positions = weights[t0:t1].max(dim=-1).indices
        result[name] = "".join(example.source[int(j)] for j in positions)
    return result
