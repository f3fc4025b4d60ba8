"""The cheapest one-to-one assignment: Kuhn's Hungarian method.

:func:`hungarian` assigns the n rows of a cost matrix to n of its m >= n columns
with the least total cost, adding one row at a time along the cheapest augmenting
path (:func:`hungarian_step`), as DETR matches its predictions to the true objects.
"""

from __future__ import annotations

import math
import numbers

import torch

from xattn.checks import check_floating, check_int, checked, fmt_shape

__all__ = ["hungarian_step", "hungarian"]


def _is_number(x) -> bool:  # a finite real, not a bool
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _check_hungarian_step(c, i, u, v, owner) -> None:
    if (
        not isinstance(c, list)
        or not c
        or not all(isinstance(row, list) for row in c)
        or len({len(row) for row in c}) != 1
        or not all(_is_number(x) for row in c for x in row)
    ):
        raise ValueError(
            "c must be the cost as a list of n rows of m finite numbers "
            "(cost.tolist()), got " + type(c).__name__
        )
    n, m = len(c), len(c[0])
    check_int("i", i, 1)
    if i > n:
        raise ValueError(f"i must be a row number in [1, {n}] (1-based), got i={i}")
    sizes = (("u", u, n + 1), ("v", v, m + 1), ("owner", owner, m + 1))
    for name, value, size in sizes:
        if not isinstance(value, list) or len(value) != size:
            raise ValueError(
                f"{name} must be a list of {size} entries for a ({n}, {m}) cost "
                "(index 0 is the virtual row or column)"
            )


@checked(_check_hungarian_step)
def hungarian_step(
    c: list[list[float]], i: int, u: list[float], v: list[float], owner: list[int]
) -> None:
    """Row ``i`` joins the assignment along the cheapest augmenting path (in place).

    A Dijkstra-like search over reduced costs ``c[i][j] - u[i] - v[j]`` (all >= 0)
    from row ``i`` to a free column; the potentials ``u``, ``v`` shift so that the
    path's reduced costs become 0, and every column on the path passes to the row
    before it. Rows and columns count from 1; column 0 stands for row ``i`` itself.

    Shapes:
        c: n lists of m costs; u (n + 1), v (m + 1), owner (m + 1): the row holding
        each column, 0 for a free one
    """
    m = len(v) - 1
    way, used = [0] * (m + 1), [False] * (m + 1)  # path back; columns reached
    best = [math.inf] * (m + 1)  # the cheapest reduced cost to reach each column
    owner[0], j0 = i, 0
    while True:
        used[j0] = True
        i0, delta, j1 = owner[j0], math.inf, 0
        for j in range(1, m + 1):
            if not used[j]:
                reduced = c[i0 - 1][j - 1] - u[i0] - v[j]
                if reduced < best[j]:
                    best[j], way[j] = reduced, j0
                if best[j] < delta:
                    delta, j1 = best[j], j
        for j in range(m + 1):  # shift the potentials by the cheapest step found
            if used[j]:
                u[owner[j]] += delta
                v[j] -= delta
            else:
                best[j] -= delta
        j0 = j1
        if owner[j0] == 0:  # a free column: the path ends here
            break
    while j0:  # flip the path: every column on it passes to the row before
        owner[j0] = owner[way[j0]]
        j0 = way[j0]


def _check_hungarian(cost) -> None:
    check_floating("cost", cost)
    if cost.dim() != 2 or cost.shape[0] > cost.shape[1]:
        raise ValueError(
            f"cost must be (n, m) with n <= m (every row gets its own column), got "
            f"cost {fmt_shape(cost)}"
        )
    if not torch.isfinite(cost).all():
        raise ValueError("cost must be finite everywhere")


@checked(_check_hungarian)
def hungarian(cost: torch.Tensor) -> torch.Tensor:
    """The assignment of rows to distinct columns with the least total cost.

    Kuhn's Hungarian method in its later shortest-augmenting-path form with
    potentials, O(n^2 m) for n rows and m >= n columns: each row in turn is added
    along the cheapest augmenting path (:func:`hungarian_step`).

    Shapes:
        cost (n, m), n <= m -> columns (n,): row i goes to column ``columns[i]``
    """
    n, m = cost.shape
    c = cost.detach().double().cpu().tolist()
    u, v = [0.0] * (n + 1), [0.0] * (m + 1)  # potentials of rows and columns
    owner = [0] * (m + 1)  # owner[j]: the row (1-based) holding column j; 0 = free
    for i in range(1, n + 1):
        hungarian_step(c, i, u, v, owner)
    columns = [0] * n
    for j in range(1, m + 1):
        if owner[j]:
            columns[owner[j] - 1] = j - 1
    return torch.tensor(columns, dtype=torch.long, device=cost.device)
