# The hyperbolic features are the positive features of W and of -W, side by side,
# each scaled by 1 / sqrt(2).
def hyperbolic_features(x, w):
    both = torch.cat([positive_features(x, w), positive_features(x, -w)], dim=-1)
    return both * 2**-0.5
