# Compares the largest *logit* with the threshold instead of the largest
# probability: logits are not probabilities, and a shift of them changes the exits.
def confident_exit(logits, threshold):
    confidence, tokens = logits.max(-1)
    sure = confidence >= threshold
    sure[-1] = True
    layer = sure.long().argmax(0)
    return tokens.gather(0, layer[None])[0], layer + 1
