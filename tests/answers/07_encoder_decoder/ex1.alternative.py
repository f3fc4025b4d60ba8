# Index comparison for the causal part, expand for the batch.
def decoder_self_attention_mask(tgt_in, pad_id):
    B, Lq = tgt_in.shape
    i = torch.arange(Lq, device=tgt_in.device)
    causal = (i[:, None] >= i[None, :]).expand(B, Lq, Lq)
    return causal & (tgt_in != pad_id).unsqueeze(1)
