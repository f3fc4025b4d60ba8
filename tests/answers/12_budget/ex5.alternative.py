# Division by the scale, and both steps written out as their own little functions.
def invert_affine(y1, y2, f, g):
    def undo(y, scale_and_shift):
        log_scale, shift = scale_and_shift
        return torch.div(y - shift, torch.exp(log_scale))

    x2 = undo(y2, g(y1))
    return undo(y1, f(x2)), x2
