# Recursion: the cheapest completion for the remaining rows and free columns.
def brute_force_assignment(cost):
    n, m = cost.shape

    def best(i, free):
        if i == n:
            return 0.0, []
        options = []
        for j in free:
            rest, cols = best(i + 1, free - {j})
            options.append((cost[i, j].item() + rest, [j, *cols]))
        return min(options)

    return torch.tensor(best(0, frozenset(range(m)))[1], dtype=torch.long)
