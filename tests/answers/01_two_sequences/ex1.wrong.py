# Indexes the table, the one thing the exercise rules out (and what most people try
# first).
def one_hot_embed(ids, table):
    return table[ids]
