# Passes the xattn mask unconverted: PyTorch reads True as "ignore".
def torch_cross_attention(mha, x, memory, lengths):
    mask = xattn.padding_mask(lengths, max_len=memory.shape[1])
    return mha(
        x,
        memory,
        memory,
        key_padding_mask=mask,
        need_weights=True,
        average_attn_weights=False,
    )
