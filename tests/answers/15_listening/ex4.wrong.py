# A softmax over the whole row, then the frames outside the chunk set to zero: the
# weights left do not sum to 1, and a step that stopped nowhere keeps the last
# frames of the row.
def chunk_weights(stops, energies, width):
    frames = torch.arange(energies.shape[-1])
    end = stops[..., None]
    chunk = (frames <= end) & (frames > end - width)
    return energies.softmax(-1) * chunk
