# A block-diagonal matrix of 2 x 2 rotations, assembled with torch.block_diag.
def position_shift_matrix(k, d_model):
    rates = torch.exp(
        torch.arange(0, d_model, 2, dtype=torch.float64)
        * (-math.log(10000.0) / d_model)
    )
    blocks = []
    for angle in (k * rates).tolist():
        c, s = math.cos(angle), math.sin(angle)
        blocks.append(torch.tensor([[c, s], [-s, c]], dtype=torch.float64))
    return torch.block_diag(*blocks).float()
