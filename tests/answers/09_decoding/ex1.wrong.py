# Multiplies by the penalty instead of dividing.
def gnmt_score(log_prob, length, alpha):
    return log_prob * ((5 + length) / 6) ** alpha
