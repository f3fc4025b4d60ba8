# Scores with the key axis first: (B, Lk, Lq).
def cross_attention_shapes(B, Lq, Lk, D):
    return {
        "q": (B, Lq, D),
        "k": (B, Lk, D),
        "v": (B, Lk, D),
        "scores": (B, Lk, Lq),
        "out": (B, Lq, D),
    }
