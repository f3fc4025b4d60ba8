# Cut the list into segments first, then checkpoint one small nn.Sequential-like
# function per segment, built with a default argument.
def checkpoint_segments(blocks, x1, x2, memory, segment):
    parts = [blocks[i : i + segment] for i in range(0, len(blocks), segment)]
    for part in parts:

        def run(a, b, mem, part=part):
            for block in part:
                a, b = block(a, b, mem)
            return a, b

        x1, x2 = checkpoint(run, x1, x2, memory, use_reentrant=False)
    return x1, x2
