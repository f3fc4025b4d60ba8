# Term by term, as xattn.attention_flops lists them.
def cross_attention_flops(batch, n_latents, m, d_latent, d_input):
    terms = {
        "q_proj": n_latents * d_latent * d_latent,
        "k_proj": m * d_input * d_latent,
        "v_proj": m * d_input * d_latent,
        "scores": n_latents * m * d_latent,
        "aggregate": n_latents * m * d_latent,
        "out_proj": n_latents * d_latent * d_latent,
    }
    return int(2 * batch * sum(terms.values()))
