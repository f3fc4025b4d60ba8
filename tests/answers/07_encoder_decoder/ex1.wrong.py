# Masks padded queries instead of padded keys: the padding mask on the wrong axis.
def decoder_self_attention_mask(tgt_in, pad_id):
    Lq = tgt_in.shape[1]
    causal = torch.ones(Lq, Lq, dtype=torch.bool, device=tgt_in.device).tril()
    real = tgt_in != pad_id
    return causal[None] & real[:, :, None]
