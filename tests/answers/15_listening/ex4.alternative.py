# One step at a time: slice the chunk and take its softmax.
def chunk_weights(stops, energies, width):
    out = torch.zeros_like(energies)
    for b in range(energies.shape[0]):
        for i in range(energies.shape[1]):
            t = int(stops[b, i])
            if t < energies.shape[-1]:
                lo = max(0, t - width + 1)
                out[b, i, lo : t + 1] = torch.softmax(energies[b, i, lo : t + 1], 0)
    return out
