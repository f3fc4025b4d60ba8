# Off by one: a strict inequality drops the keys exactly window * dilation away.
def dilated_mask(lq, lk, window, dilation):
    gap = torch.arange(lq)[:, None] - torch.arange(lk)[None, :]
    return (gap.abs() < window * dilation) & (gap % dilation == 0)
