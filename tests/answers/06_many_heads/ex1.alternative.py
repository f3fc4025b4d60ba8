# torch.cat of slices along the feature axis, one head at a time.
def merge_heads_cat(x):
    return torch.cat([x[:, h] for h in range(x.shape[1])], dim=-1)
