"""The attention explorer's HTML and data: shapes, escaping, rounding, bad input.

The browser half (hover, selectors, nothing fetched) is in tests/test_site.py.
"""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
import torch

from xattn.plotting import MAX_WEIGHTS, Explorer, explore


def weights(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(3 * torch.randn(*shape, generator=g), dim=-1)


def data_of(page: str) -> dict:
    block = re.search(
        r'<script type="application/json" class="xe-data">(.*?)</script>', page, re.S
    )
    return json.loads(block.group(1))


def test_the_html_holds_every_token_layer_and_head():
    w = weights(2, 4, 3, 5)
    e = explore(w, list("abc"), list("vwxyz"), head_names=list("ABCD"))
    page = e.html
    assert len(re.findall(r'class="xe-q[ "]', page)) == 3
    assert len(re.findall(r'class="xe-k[ "]', page)) == 5
    assert page.count("<option") == 2 + 1 + 4  # layers; mean and four heads
    assert "mean over heads" in page and ">D</option>" in page
    assert (
        repr(e) == "Explorer(2 layers x 4 heads, 3 queries x 5 keys, layout 'tokens')"
    )
    assert e._repr_html_() == page


def test_weights_are_stored_rounded_and_the_static_view_is_the_first_query():
    w = weights(2, 4, 3, 5)
    d = data_of(explore(w, list("abc"), list("vwxyz")).html)
    stored = np.array(d["weights"])
    assert stored.shape == (2, 4, 3, 5) and d["scale"] == 1000
    assert np.array_equal(stored, np.rint(w.double().numpy() * 1000))
    assert stored.dtype.kind == "i"
    # The static caption, for pages where scripts do not run: the last layer's mean
    # over heads, query 0, its three largest weights.
    mean = w[-1].mean(0)[0]
    page = explore(w, list("abc"), list("vwxyz")).html
    first = "vwxyz"[int(mean.argmax())]
    assert f"a reads most: {first} {mean.max():.3f}" in page
    fewer = data_of(explore(w, list("abc"), list("vwxyz"), digits=2).html)
    assert fewer["scale"] == 100


def test_token_text_is_escaped_and_cannot_close_the_script():
    keys = ["<pad>", "</script>", "a&b", '"q"', " "]
    page = explore(weights(3, 5), list("abc"), keys).html
    assert page.count("</script>") == 2  # the data block's and the script's own
    assert "<pad>" not in page.replace("&lt;pad&gt;", "")
    assert "&lt;pad&gt;" in page and "a&amp;b" in page
    assert data_of(page)["keys"] == keys  # the data keeps the text as it was
    assert "&#9251;" in page  # a space shows as the open-box symbol


def test_the_same_input_gives_the_same_page():
    a = explore(weights(2, 4, 3, 5), list("abc"), list("vwxyz"), title="run 1")
    b = explore(weights(2, 4, 3, 5), list("abc"), list("vwxyz"), title="run 1")
    c = explore(weights(2, 4, 3, 5, seed=1), list("abc"), list("vwxyz"))
    assert a.html == b.html and a.id == b.id
    assert a.id != c.id  # two explorers on one page get their own ids
    assert a.id in a.html


def test_truth_is_outlined_and_layouts_carry_their_image():
    truth = torch.zeros(3, 12, dtype=torch.bool)
    truth[0, [1, 2]] = True
    image = torch.rand(3, 24, 32)
    e = explore(
        weights(2, 3, 12),
        list("abc"),
        [str(i) for i in range(12)],
        truth=truth,
        layout="grid",
        grid=(3, 4),
        image=image,
    )
    page = e.html
    d = data_of(page)
    assert d["truth"][0] == [1, 2] and d["truth"][1] == []
    assert page.count("xe-k xe-true") == 2  # the first query's true keys
    png = base64.b64decode(d["image"])
    assert png.startswith(b"\x89PNG")
    assert "grid-template-columns:repeat(4,1fr)" in page
    strip = explore(
        weights(4, 40), list("abcd"), [str(i) for i in range(40)], layout="strip",
        image=torch.randn(16, 40),
    )  # fmt: skip
    assert "repeat(40,1fr)" in strip.html and data_of(strip.html)["image"]


def test_a_list_of_per_layer_weights_and_a_start_view():
    per_layer = [weights(4, 3, 5, seed=s) for s in range(3)]
    e = explore(per_layer, list("abc"), list("vwxyz"), layer=0, head=2)
    d = data_of(e.html)
    assert np.array(d["weights"]).shape == (3, 4, 3, 5)
    assert d["start"] == {"layer": 0, "head": 2}
    assert '<option value="2" selected>head 2</option>' in e.html


def test_save_writes_a_standalone_page(tmp_path):
    path = explore(weights(3, 5), list("abc"), list("vwxyz")).save(tmp_path / "e.html")
    text = path.read_text()
    assert text.startswith("<!doctype html>") and "xattn-explorer" in text
    assert "http" not in text  # nothing to fetch


BAD = [
    ("shape vs tokens", dict(query_tokens=list("ab")), r"must end in \(Lq, Lk\)"),
    ("rank", dict(weights=torch.ones(1, 1, 1, 3, 5) / 5), r"must be \(Lq, Lk\)"),
    ("nan", dict(weights=torch.full((3, 5), float("nan"))), "NaN"),
    ("rows", dict(weights=torch.rand(3, 5) + 1), "sums to .* not 1"),
    ("negative", dict(weights=-weights(3, 5)), "negative"),
    ("no queries", dict(query_tokens=[]), "query_tokens is empty"),
    ("a string", dict(key_tokens="vwxyz"), "key_tokens must be a list"),
    ("layout", dict(layout="circle"), "layout must be one of"),
    ("grid", dict(layout="grid", grid=(2, 2)), r"rows \* cols = Lk = 5"),
    ("grid for tokens", dict(grid=(1, 5)), "grid is for layout='grid'"),
    ("truth", dict(truth=torch.ones(5, 3)), r"truth must be \(Lq, Lk\) = \(3, 5\)"),
    ("layer", dict(layer=1), r"layer must be an index in \[-1, 1\)"),
    ("head", dict(head=True), "head must be an index"),
    ("digits", dict(digits=0), r"digits must be an int in \[1, 6\]"),
    ("image", dict(layout="strip", image=torch.rand(2, 2, 2)), "image must be"),
    ("names", dict(head_names=["a", "b"]), "head_names has 2 names for 1 head"),
]


@pytest.mark.parametrize("case, change, message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_a_value_error_naming_it(case, change, message):
    args = dict(weights=weights(3, 5), query_tokens=list("abc"), key_tokens="vwxyz")
    args["key_tokens"] = list("vwxyz")
    args.update(change)
    with pytest.raises(ValueError, match=message):
        explore(args.pop("weights"), args.pop("query_tokens"), args.pop("key_tokens"),
                **args)  # fmt: skip


def test_the_cap_on_stored_weights_is_enforced_and_named():
    n = int(np.ceil(np.sqrt(MAX_WEIGHTS))) + 1
    with pytest.raises(ValueError, match="more than the 60,000"):
        explore(weights(n, n), [str(i) for i in range(n)], [str(i) for i in range(n)])


def test_a_masked_query_with_no_visible_key_is_allowed():
    w = weights(3, 5)
    w[1] = 0.0  # no visible key: zero weights, as xattn.attention gives
    assert isinstance(explore(w, list("abc"), list("vwxyz")), Explorer)
