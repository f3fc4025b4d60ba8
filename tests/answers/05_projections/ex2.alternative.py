# Solves with the inverse instead of forming R^-T, and edits .data of a fresh copy.
def reparametrize(attn, R):
    new = copy.deepcopy(attn)
    new.q_proj.weight.data = (attn.q_proj.weight.T @ R).T.clone()
    new.k_proj.weight.data = torch.linalg.solve(R, attn.k_proj.weight).clone()
    if attn.q_proj.bias is not None:
        new.q_proj.bias.data = attn.q_proj.bias @ R
        new.k_proj.bias.data = torch.linalg.solve(R, attn.k_proj.bias)
    return new
