# The shortcut: a mask from the lengths and the pyramid's own stack_frames, which
# the exercise rules out (the tests forbid it, the page's copy and the package's).
def stack_pairs(x, lengths):
    mask = torch.arange(x.shape[1], device=x.device)[None] < lengths[:, None]
    pairs, pair_mask = stack_frames(x, mask)
    return pairs, pair_mask.sum(-1)
