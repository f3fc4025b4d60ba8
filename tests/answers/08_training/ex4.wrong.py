# Takes the argmax over the target axis: for each source character, the row that looks
# at it.
def attended_source(example, weights):
    best = weights.argmax(0).tolist()
    return {
        name: "".join(example.source[best[t]] for t in range(t0, t1))
        for name, (t0, t1) in TARGET_FIELDS.items()
    }
