# Marks the elements to drop, as nn.MultiheadAttention's key_padding_mask does: the
# book's masks are True where a key may be attended to, so this keeps the wrong ones.
def keep_modalities(modality, keep):
    mask = torch.ones_like(modality, dtype=torch.bool)
    for i in keep:
        mask &= modality != i
    return mask
