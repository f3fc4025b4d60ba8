# Shifts, but forgets to clear the padding: the last real symbol leaks into the first
# pad.
def previous_symbols(source, source_len):
    shifted = torch.full_like(source, PAD)
    shifted[:, 1:] = source[:, :-1]
    return shifted
