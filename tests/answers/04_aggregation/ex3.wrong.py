# Forgets the empty sources: argmax of an all -inf row is 0, not -1.
def most_attended(q, k, lengths):
    scores = xattn.attention_scores(q, k)
    visible = xattn.padding_mask(lengths, max_len=k.shape[-2])[:, None, :]
    return scores.masked_fill(~visible, float("-inf")).argmax(dim=-1)
