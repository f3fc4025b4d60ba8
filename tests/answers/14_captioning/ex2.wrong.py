# Matches every row with the package's hungarian first, then drops the pairs dearer
# than max_cost: the full matching was chosen as if every row had to be matched, and
# it cannot handle more rows than columns at all (xattn.hungarian refuses n > m; the
# page's own unchecked hungarian would never finish, so the answer calls the package's).
def match_within(cost, max_cost):
    columns = xattn.hungarian(cost)
    dear = cost[torch.arange(len(cost)), columns] > max_cost
    return torch.where(dear, -1, columns)
