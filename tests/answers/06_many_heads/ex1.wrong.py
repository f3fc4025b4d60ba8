# Concatenates along the wrong axis: the positions of every head are stacked instead.
def merge_heads_cat(x):
    return torch.cat(torch.unbind(x, dim=1), dim=1)
