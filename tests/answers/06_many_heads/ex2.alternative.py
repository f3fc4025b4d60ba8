# Counts projection by projection: (out, in) weights and one bias each.
def mha_parameter_count(embed_dim, kdim=None, vdim=None, bias=True):
    widths_in = [embed_dim, kdim or embed_dim, vdim or embed_dim, embed_dim]
    return sum(embed_dim * w + (embed_dim if bias else 0) for w in widths_in)
