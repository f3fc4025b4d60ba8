# Builds PyTorch's True = ignore mask directly from the lengths.
def torch_cross_attention(mha, x, memory, lengths):
    positions = torch.arange(memory.shape[1], device=memory.device)
    ignore = (
        positions[None, :] >= torch.as_tensor(lengths, device=memory.device)[:, None]
    )
    out, weights = mha(
        x, memory, memory, key_padding_mask=ignore, average_attn_weights=False
    )
    return out, weights
