# Starts the decay at step 0 instead of at the end of the warm-up.
def warmup_linear(step, warmup_steps, total_steps, min_ratio=0.0):
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    done = min(1.0, step / total_steps)
    return 1.0 - (1.0 - min_ratio) * done
