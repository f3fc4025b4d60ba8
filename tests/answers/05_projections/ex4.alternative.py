# torch.roll, then one mask for position 0 and the padding together.
def previous_symbols(source, source_len):
    rolled = torch.roll(source, shifts=1, dims=1)
    positions = torch.arange(source.shape[1], device=source.device)
    keep = (positions[None, :] >= 1) & (
        positions[None, :] < torch.as_tensor(source_len)[:, None]
    )
    return torch.where(keep, rolled, torch.full_like(source, PAD))
