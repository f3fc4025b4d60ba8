# Integer ceiling of the boundary, then one step past it when the boundary is exact.
def crossover_lk(len_q, d_model):
    if len_q <= d_model:
        return None
    num, den = len_q * d_model, len_q - d_model
    lk = -(-num // den)  # ceil(num / den)
    return lk + 1 if lk * den == num else lk
