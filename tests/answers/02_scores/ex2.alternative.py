# The same c, from Var(c q.k) = c^2 D sigma_q^2 sigma_k^2 = tau solved in one go.
def matching_scale(sigma_q, sigma_k, D, target_var=1.0):
    return (target_var / (D * sigma_q**2 * sigma_k**2)) ** 0.5
