# Off by one at the tile edges: compares the first key with the first query of the
# *next* block, and forgets that the last query block may be short.
def causal_tiles(lq, lk, block_q, block_k):
    n_q, n_k = -(-lq // block_q), -(-lk // block_k)
    next_first_query = (torch.arange(n_q) + 1) * block_q
    first_key = torch.arange(n_k) * block_k
    return first_key[None, :] <= next_first_query[:, None]
