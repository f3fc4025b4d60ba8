# Returns the signed derivative: a head whose removal would *lower* the loss gets a
# negative importance, and ranking by it mixes up "matters" with "helps".
def mask_gradient(layer, x, memory, target):
    xi = torch.ones(layer.n_heads, dtype=x.dtype, requires_grad=True)
    layer.attend = head_mask_attend(xi)
    try:
        out, _ = layer(x, memory)
    finally:
        del layer.attend
    loss = ((out - target) ** 2).mean()
    (grad,) = torch.autograd.grad(loss, [xi])
    return grad
