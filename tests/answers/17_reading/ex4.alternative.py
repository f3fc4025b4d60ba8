# Every position erased at once: L masked copies of the batch, stacked copy by copy
# along the batch dim, and one call of f.
def occlusion(f, x):
    b, length, _ = x.shape
    keep = 1 - torch.eye(length, dtype=x.dtype, device=x.device)  # row j erases j
    erased = (keep[:, None, :, None] * x[None]).reshape(length * b, length, -1)
    with torch.no_grad():
        drops = f(x).repeat(length, 1) - f(erased)  # (L B, T)
    return drops.reshape(length, b, -1).permute(1, 2, 0)  # (B, T, L)
