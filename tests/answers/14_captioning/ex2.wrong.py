# Matches every row with hungarian first, then drops the pairs dearer than max_cost:
# the full matching was chosen as if every row had to be matched, and it cannot
# handle more rows than columns at all (hungarian needs n <= m).
def match_within(cost, max_cost):
    columns = hungarian(cost)
    dear = cost[torch.arange(len(cost)), columns] > max_cost
    return torch.where(dear, -1, columns)
