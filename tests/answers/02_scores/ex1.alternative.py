# Broadcasting with @: the keys get a head axis of size 1, nothing is copied.
def shared_key_scores(q, k):
    return q @ k[:, None].transpose(-1, -2) * q.shape[-1] ** -0.5
