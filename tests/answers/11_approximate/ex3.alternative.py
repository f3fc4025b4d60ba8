# One diagonal at a time: the offsets -window * dilation, ..., +window * dilation in
# steps of dilation, each drawn with torch.ones(...).diagonal.
def dilated_mask(lq, lk, window, dilation):
    mask = torch.zeros(lq, lk, dtype=torch.bool)
    for step in range(-window, window + 1):
        offset = step * dilation
        if -lq < offset < lk:
            mask.diagonal(offset).fill_(True)
    return mask
