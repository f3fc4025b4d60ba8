# Rounds the real-valued crossover instead of taking the next integer above it.
def crossover_lk(len_q, d_model):
    if len_q <= d_model:
        return None
    return round(len_q * d_model / (len_q - d_model))
