# The penalty as (5 + |y|)^alpha / 6^alpha, written with pow.
def gnmt_score(log_prob, length, alpha):
    return log_prob * 6**alpha / pow(5 + length, alpha)
