# Slices the output projection's rows instead of its columns: in nn.Linear's layout
# (out, in) the heads are the *input* features of out_proj.
def drop_head(w_q, w_out, h, d_head):
    keep = [i for i in range(w_q.shape[0]) if not h * d_head <= i < (h + 1) * d_head]
    return w_q[keep], w_out[keep]
