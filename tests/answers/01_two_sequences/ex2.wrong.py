# The classic bug: the mask read off the ids, so a real token with the padding id is
# hidden.
def pad_batch(sequences, pad_id=0):
    longest = max(len(s) for s in sequences)
    ids = torch.tensor([s + [pad_id] * (longest - len(s)) for s in sequences])
    return ids, ids != pad_id
