# The running sum in the numerator, but the normalizer over all keys, future ones
# included: the rows no longer sum to one.
def causal_kernel_attention(q, k, v, w):
    s = q.shape[-1] ** -0.25
    phi_q = positive_features(q * s, w, stabilize="row")
    phi_k = positive_features(k * s, w, stabilize="all")
    states = torch.einsum("... k m, ... k d -> ... k m d", phi_k, v).cumsum(-3)
    num = torch.einsum("... q m, ... q m d -> ... q d", phi_q, states)
    return num / (phi_q * phi_k.sum(-2, keepdim=True)).sum(-1, keepdim=True)
