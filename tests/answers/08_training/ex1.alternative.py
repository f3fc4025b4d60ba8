# NumPy for the share, one check for both rules.
def exact_match(predictions, targets):
    if len(predictions) != len(targets) or len(targets) == 0:
        raise ValueError("need as many predictions as targets, and at least one")
    return float(
        np.mean(np.array(predictions, dtype=object) == np.array(targets, dtype=object))
    )
