# Without a mask: the gradient with respect to xi_h is the sum over head h's slice of
# the merged heads (the out_proj input) of that input times the loss gradient there.
def mask_gradient(layer, x, memory, target):
    seen = {}

    def keep(module, args):
        merged = args[0].detach().requires_grad_()
        seen["merged"] = merged
        return (merged,)

    hook = layer.out_proj.register_forward_pre_hook(keep)
    try:
        out, _ = layer(x, memory)
    finally:
        hook.remove()
    loss = ((out - target) ** 2).mean()
    merged = seen["merged"]
    (grad,) = torch.autograd.grad(loss, [merged])
    per_head = (grad * merged).reshape(*merged.shape[:-1], layer.n_heads, -1)
    return per_head.sum(dim=(*range(merged.dim() - 1), -1)).abs()
