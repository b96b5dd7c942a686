"""Ties in best IoU broken by libspatialindex's slot order (``tie_break="rtree_slots"``).

The SpaceNet utilities scorer indexes each image's truths in an rtree (libspatialindex),
inserted in file order, and takes the *first* truth of highest IoU in the order the
index returns them. For an image whose truths fit in one index node (at most 100, the
rtree package's default leaf capacity) that is the node's slot order: file order until a
match, when the scorer deletes the matched truth and libspatialindex moves the node's
last entry into the freed slot (``Node::deleteEntry``). After A of [A, B, C] is matched
the order is [C, B], so a later exact tie between B and C goes to C (conformance case 18).

With more truths the tree has several nodes, whose splits and re-insertions on delete
(an R*-tree) decide the order; that is not modelled, and such images follow the same
one-node rule. Only images where some proposal has two passing candidates of exactly
equal IoU can differ from file order; only those are re-matched here.
"""

from __future__ import annotations

import numpy as np

from .arrays import FloatArray, IntArray


def rematch_ties_by_slots(
    rank: IntArray,
    pi: IntArray,
    ti: IntArray,
    iou: FloatArray,
    truth_image: IntArray,
    match: IntArray,
    match_iou: FloatArray,
) -> tuple[IntArray, FloatArray]:
    """``match``/``match_iou`` (from file-order ties) with the images holding an exact tie
    between two passing candidates of one proposal matched again, ties going by slot.

    ``pi, ti, iou`` are all passing pairs; ``truth_image`` is the image of every truth
    (truth indices are in file order, which is the order of insertion into the index).
    """
    order = np.lexsort((iou, pi))
    p, v = pi[order], iou[order]
    tie = (p[1:] == p[:-1]) & (v[1:] == v[:-1])
    images = np.unique(truth_image[ti[order][1:][tie]])
    if len(images) == 0:
        return match, match_iou
    match, match_iou = match.copy(), match_iou.copy()
    mine = np.isin(truth_image[ti], images)
    pi, ti, iou = pi[mine], ti[mine], iou[mine]
    match[pi] = -1
    match_iou[pi] = 0.0

    by_image = np.argsort(truth_image, kind="stable")  # each image's truths in file order
    edges = (
        np.searchsorted(truth_image[by_image], images, side="left"),
        np.searchsorted(truth_image[by_image], images, side="right"),
    )
    slots = {
        int(image): by_image[lo:hi].tolist()
        for image, lo, hi in zip(images.tolist(), *edges, strict=True)
    }
    position = {t: k for truths in slots.values() for k, t in enumerate(truths)}

    visit = np.lexsort((ti, rank[pi]))
    pairs = zip(pi[visit].tolist(), ti[visit].tolist(), iou[visit].tolist(), strict=True)
    current, best, best_iou = -1, -1, -1.0
    for p, t, value in [*pairs, (-1, -1, 0.0)]:  # a sentinel closes the last proposal
        if p != current:
            if best >= 0:
                match[current], match_iou[current] = best, best_iou
                _delete(slots[int(truth_image[best])], position, best)
            current, best, best_iou = p, -1, -1.0
        if t not in position:  # matched already
            continue
        if value > best_iou or (value == best_iou and position[t] < position[best]):
            best, best_iou = t, value
    return match, match_iou


def _delete(slots: list[int], position: dict[int, int], truth: int) -> None:
    """libspatialindex's delete from a node: the last entry moves into the freed slot."""
    k = position.pop(truth)
    last = slots.pop()
    if last != truth:
        slots[k] = last
        position[last] = k
