# Pads the causal mask to whole tiles and asks each tile whether any pair is visible.
def causal_tiles(lq, lk, block_q, block_k):
    n_q, n_k = -(-lq // block_q), -(-lk // block_k)
    visible = torch.zeros(n_q * block_q, n_k * block_k, dtype=torch.bool)
    visible[:lq, :lk] = torch.ones(lq, lk, dtype=torch.bool).tril()
    tiles = visible.view(n_q, block_q, n_k, block_k)
    return tiles.any(dim=3).any(dim=1)
