# Multiplies the layers in the order they are listed, first layer on the left: that is
# A1^ A2^ ... AN^, the rollout of the stack run backwards.
def rollout_stack(layers):
    eye = torch.eye(layers[0].shape[-1], dtype=layers[0].dtype)
    out = eye
    for a in layers:
        out = out @ (0.5 * eye + 0.5 * a)
    return out
