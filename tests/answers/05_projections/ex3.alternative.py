# The same maps built by assigning blocks of the weight matrices in place.
def solve_by_hand(model, sharpness=40.0):
    n = N_SYMBOLS
    with torch.no_grad():
        for layer in (
            model.attn.q_proj,
            model.attn.k_proj,
            model.attn.v_proj,
            model.readout,
        ):
            layer.weight.zero_()
            layer.bias.zero_()
        for s in range(n):
            model.attn.q_proj.weight[s, s] = sharpness
            model.attn.k_proj.weight[s, s] = 1.0
        for d in range(N_DIGITS):
            model.attn.v_proj.weight[n + d, n + d] = 1.0
            model.readout.weight[d, n + d] = sharpness
