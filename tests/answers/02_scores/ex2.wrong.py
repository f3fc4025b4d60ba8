# Forgets the square root: c = tau / (D sigma_q sigma_k).
def matching_scale(sigma_q, sigma_k, D, target_var=1.0):
    return target_var / (D * sigma_q * sigma_k)
