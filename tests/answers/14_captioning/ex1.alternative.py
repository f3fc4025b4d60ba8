# Crosses matched n-grams off a list of the reference's n-grams, one by one.
def clipped_matches(candidate, reference, n):
    left = [tuple(reference[i : i + n]) for i in range(len(reference) - n + 1)]
    grams = [tuple(candidate[i : i + n]) for i in range(len(candidate) - n + 1)]
    matched = 0
    for g in grams:
        if g in left:
            left.remove(g)
            matched += 1
    return matched, len(grams)
