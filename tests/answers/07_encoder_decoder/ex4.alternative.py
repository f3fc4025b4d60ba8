# From xattn's own counters, plus what a decoder-only model adds around the blocks.
def decoder_only_parameter_count(d_model, d_ff, n_layers, vocab_size, max_len):
    block = (
        xattn.attention_parameter_count(d_model)
        + (d_model * d_ff + d_ff)
        + (d_ff * d_model + d_model)
    )
    norms = 2 * (2 * d_model) * n_layers + 2 * d_model
    return vocab_size * d_model + max_len * d_model + n_layers * block + norms
