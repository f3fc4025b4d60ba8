# Even and odd frames side by side, the odd ones padded with a zero frame at the end.
def stack_pairs(x, lengths):
    keep = torch.arange(x.shape[1])[None, :, None] < lengths[:, None, None]
    x = torch.where(keep, x, torch.zeros_like(x))
    even, odd = x[:, 0::2], x[:, 1::2]
    missing = even.shape[1] - odd.shape[1]  # 1 for an odd number of frames
    odd = torch.cat([odd, x.new_zeros(x.shape[0], missing, x.shape[2])], dim=1)
    new_lengths = torch.div(lengths + 1, 2, rounding_mode="floor")
    return torch.cat([even, odd], dim=-1), new_lengths
