# The slices before and after the head, put back together.
def drop_head(w_q, w_out, h, d_head):
    a, b = h * d_head, (h + 1) * d_head
    return (
        torch.cat([w_q[:a], w_q[b:]], dim=0),
        torch.cat([w_out[:, :a], w_out[:, b:]], dim=1),
    )
