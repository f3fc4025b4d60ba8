# Linear interpolation with np.interp between the end of the warm-up and the last step.
def warmup_linear(step, warmup_steps, total_steps, min_ratio=0.0):
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return float(
        np.interp(
            step, [warmup_steps, max(total_steps, warmup_steps + 1)], [1.0, min_ratio]
        )
    )
