# Takes the last query of block i to be (i + 1) * block_q - 1 and forgets to clamp
# it to Lq - 1: a short last query block then claims keys that none of its queries
# can see (Lq = 6, Lk = 8, blocks of 4 and 3: keys 6 and 7 for queries 4 and 5).
def causal_tiles(lq, lk, block_q, block_k):
    n_q, n_k = -(-lq // block_q), -(-lk // block_k)
    last_query = (torch.arange(n_q) + 1) * block_q - 1
    first_key = torch.arange(n_k) * block_k
    return first_key[None, :] <= last_query[:, None]
