# Walk down the layers and fill in each position the first time it is confident.
def confident_exit(logits, threshold):
    probs = logits.softmax(-1)
    tokens = probs[-1].argmax(-1)
    layers = torch.full(tokens.shape, probs.shape[0], dtype=torch.long)
    for n in reversed(range(probs.shape[0] - 1)):
        sure = probs[n].max(-1).values >= threshold
        tokens = torch.where(sure, probs[n].argmax(-1), tokens)
        layers = torch.where(sure, n + 1, layers)
    return tokens, layers
