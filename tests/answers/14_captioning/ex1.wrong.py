# Counts the n-grams as len(candidate) - n + 1 without clamping at 0: a candidate
# shorter than n by two or more words gets a negative total, ("a", n=3) -> (0, -1).
def clipped_matches(candidate, reference, n):
    from collections import Counter

    def grams(words):
        return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))

    cand, ref = grams(candidate), grams(reference)
    matched = sum(min(count, ref[g]) for g, count in cand.items())
    return matched, len(candidate) - n + 1
