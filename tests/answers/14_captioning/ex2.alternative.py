# Tries every way of giving each row a column or none, and keeps the cheapest.
def match_within(cost, max_cost):
    n, m = cost.shape
    best, best_cost = None, float("inf")
    for choice in itertools.product(range(-1, m), repeat=n):
        used = [j for j in choice if j >= 0]
        if len(used) != len(set(used)):
            continue
        total = sum(
            cost[i, j].item() if j >= 0 else max_cost for i, j in enumerate(choice)
        )
        if total < best_cost:
            best, best_cost = choice, total
    return torch.tensor(best, dtype=torch.long)
