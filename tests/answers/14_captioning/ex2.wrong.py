# Greedy, row by row: each row takes its cheapest free column. Locally cheapest is
# not globally cheapest: for [[1, 2], [1.5, 10]] it gives (0, 1), cost 11, not 3.5.
def brute_force_assignment(cost):
    n, m = cost.shape
    free, out = set(range(m)), []
    for i in range(n):
        j = min(free, key=lambda j: cost[i, j].item())
        free.remove(j)
        out.append(j)
    return torch.tensor(out, dtype=torch.long)
