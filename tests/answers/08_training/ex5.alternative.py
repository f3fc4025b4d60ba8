# A beam of one is greedy decoding (chapter 9 checks it); strings compared to targets.
def template_exact_match(model, task, locale, template, n=100):
    vocab = task.target_vocab
    examples = [task.example(day, locale, template) for day in task.days["test"][:n]]
    src = task.encode(examples, next(model.parameters()).device)[0]
    out, _ = xattn.beam_search(
        model, src, beam_size=1, max_len=12, bos_id=vocab.bos_id, eos_id=vocab.eos_id
    )
    return float(
        np.mean(
            [vocab.decode(row) == e.target for row, e in zip(out.tolist(), examples)]
        )
    )
