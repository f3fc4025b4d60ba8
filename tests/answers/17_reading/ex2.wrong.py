# Stacks the layers and calls the rollout built on the page: the numbers are right, but
# the exercise asks for the product itself, and the tests run the answer with rollout
# (the page's and the package's) and cross_rollout switched off.
def rollout_stack(layers):
    return rollout(torch.stack(list(layers)))
