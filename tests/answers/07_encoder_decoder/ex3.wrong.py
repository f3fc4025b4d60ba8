# The rotation's sine on the wrong side: M_k turns each pair backwards, by -w k.
def position_shift_matrix(k, d_model):
    m = torch.zeros(d_model, d_model)
    for i in range(d_model // 2):
        a = k * 10000 ** (-2 * i / d_model)
        m[2 * i, 2 * i], m[2 * i, 2 * i + 1] = math.cos(a), -math.sin(a)
        m[2 * i + 1, 2 * i], m[2 * i + 1, 2 * i + 1] = math.sin(a), math.cos(a)
    return m
