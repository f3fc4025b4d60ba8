# Forgets the sharpness: the right key wins, but only just, and the answers blur.
def solve_by_hand(model, sharpness=40.0):
    D = N_SYMBOLS + N_DIGITS
    letters, digits = torch.zeros(D, D), torch.zeros(D, D)
    letters[:N_SYMBOLS, :N_SYMBOLS] = torch.eye(N_SYMBOLS)
    digits[N_SYMBOLS:, N_SYMBOLS:] = torch.eye(N_DIGITS)
    with torch.no_grad():
        model.attn.q_proj.weight.copy_(letters)
        model.attn.k_proj.weight.copy_(letters)
        model.attn.v_proj.weight.copy_(digits)
        for layer in (model.attn.q_proj, model.attn.k_proj, model.attn.v_proj):
            layer.bias.zero_()
        model.readout.weight.copy_(digits[N_SYMBOLS:])
        model.readout.bias.zero_()
