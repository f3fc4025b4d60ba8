# Counts every candidate n-gram that occurs in the reference at all, without clipping:
# "the the the" against "the cat" then matches 3 unigrams, not 1.
def clipped_matches(candidate, reference, n):
    ref = {tuple(reference[i : i + n]) for i in range(len(reference) - n + 1)}
    grams = [tuple(candidate[i : i + n]) for i in range(len(candidate) - n + 1)]
    return sum(g in ref for g in grams), len(grams)
