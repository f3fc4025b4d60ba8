# Changes k_proj by R as well (not by R^-T): the scores become q R R^T k^T.
def reparametrize(attn, R):
    new = copy.deepcopy(attn)
    with torch.no_grad():
        new.q_proj.weight.copy_(R.T @ attn.q_proj.weight)
        new.k_proj.weight.copy_(R.T @ attn.k_proj.weight)
        if attn.q_proj.bias is not None:
            new.q_proj.bias.copy_(attn.q_proj.bias @ R)
            new.k_proj.bias.copy_(attn.k_proj.bias @ R)
    return new
