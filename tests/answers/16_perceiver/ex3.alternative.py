# torch.isin against the kept ids.
def keep_modalities(modality, keep):
    kept = torch.tensor(list(keep), dtype=modality.dtype, device=modality.device)
    return torch.isin(modality, kept)
