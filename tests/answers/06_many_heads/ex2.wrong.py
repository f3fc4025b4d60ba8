# Forgets that kdim and vdim only change the key and value projections' input width.
def mha_parameter_count(embed_dim, kdim=None, vdim=None, bias=True):
    return 4 * embed_dim * embed_dim + (4 * embed_dim if bias else 0)
