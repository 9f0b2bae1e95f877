"""Tests of sklearn_salreg.metrics: hand-worked APs, a loop reference, real ground truth."""

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_salreg.metrics import (
    average_precision,
    label_gnd,
    mean_average_precision,
    revisited_map,
    saliency_precision,
)
from sklearn_salreg.metrics import label_average_precisions


def _shared_data():
    env = os.environ.get("SALREG_SHARED_DATA")
    return Path(env) if env else Path(__file__).parents[2] / "shared" / "data"


def reference_ap(ranked, positives, junk=()):
    """AP by walking the ranking once, skipping junk: the protocol as prose says it."""
    positives, junk = set(positives), set(junk) - set(positives)
    if not positives:
        return float("nan")
    ap, found, rank = 0.0, 0, 0
    for item in ranked:
        if item in junk:
            continue
        if item in positives:
            precision_0 = 1.0 if rank == 0 else found / rank
            precision_1 = (found + 1) / (rank + 1)
            ap += (precision_0 + precision_1) / 2 / len(positives)
            found += 1
        rank += 1
    return ap


def reference_pk(ranked, positives, junk, k):
    """revisitop's precision at k: the cut-off is lowered to the last positive's rank."""
    positives, junk = set(positives), set(junk) - set(positives)
    kept = [item for item in ranked if item not in junk]
    ranks = [r + 1 for r, item in enumerate(kept) if item in positives]
    if not ranks:
        return 0.0
    cut = min(max(ranks), k)
    return sum(r <= cut for r in ranks) / cut


# --- hand-worked cases ---------------------------------------------------------------

@pytest.mark.parametrize(
    "ranked, positives, junk, expected",
    [
        ([0, 1, 2, 3], [0, 1], [], 1.0),                       # perfect
        ([3, 2, 1, 0], [0, 1], [], 7 / 24),                    # reversed: (1/6 + 5/12) / 2
        ([3, 1, 2, 0], [3, 2], [], (1 + 7 / 12) / 2),          # second positive at rank 2
        ([9, 5, 7], [5], [9], 1.0),                            # junk before the positive
        ([5, 9, 7, 6], [5, 6], [9], (1 + 7 / 12) / 2),         # junk between positives
        ([5, 6, 9], [5, 6], [9], 1.0),                         # junk after every positive
        ([0, 1], [0, 5], [], 0.5),                             # positive 5 never retrieved
        ([4, 0], [0], [0], 0.25),                              # positive and junk: positive
        (["b", "a"], ["a"], [], 0.25),                         # any identifiers
    ],
)
def test_average_precision_hand_worked(ranked, positives, junk, expected):
    assert average_precision(ranked, positives, junk) == pytest.approx(expected)
    assert reference_ap(ranked, positives, junk) == pytest.approx(expected)


def test_no_positives_is_nan_and_left_out_of_the_mean():
    assert np.isnan(average_precision([0, 1, 2], positives=[]))
    ranks = np.array([[0, 1, 2], [2, 1, 0]])
    gnd = [{"ok": [0], "junk": []}, {"ok": [], "junk": [1]}]
    assert mean_average_precision(ranks, gnd) == 1.0
    assert np.isnan(mean_average_precision(ranks[1:], gnd[1:]))


def test_repeated_ids_are_rejected():
    with pytest.raises(ValueError, match="repeats"):
        average_precision([0, 1, 0], positives=[0])
    with pytest.raises(ValueError, match="repeated"):
        mean_average_precision(np.array([[0, 0, 1]]), [{"ok": [0]}])


def test_input_errors_name_the_problem():
    with pytest.raises(ValueError, match="2-D"):
        mean_average_precision(np.arange(3), [{"ok": [0]}])
    with pytest.raises(ValueError, match="3 rows"):
        mean_average_precision(np.zeros((3, 4), int), [{"ok": [0]}])
    with pytest.raises(ValueError, match="revisited_map"):
        mean_average_precision(np.zeros((1, 4), int), [{"easy": [0], "hard": []}])
    with pytest.raises(ValueError, match="mean_average_precision"):
        revisited_map(np.zeros((1, 4), int), [{"ok": [0]}])
    with pytest.raises(ValueError, match="kappas"):
        mean_average_precision(np.zeros((1, 4), int), [{"ok": [0]}], kappas=[0])


# --- random rankings against the loop reference ----------------------------------------

def test_mean_average_precision_matches_the_loop_reference():
    rng = np.random.default_rng(0)
    n_db, n_q = 200, 40
    ranks = np.array([rng.permutation(n_db) for _ in range(n_q)])
    ranks[5] = np.arange(n_db)
    gnd = []
    for q in range(n_q):
        items = rng.permutation(n_db)
        n_pos, n_junk = rng.integers(0, 15), rng.integers(0, 15)
        gnd.append({"ok": items[:n_pos], "junk": items[n_pos:n_pos + n_junk]})
    aps = [reference_ap(r, g["ok"], g["junk"]) for r, g in zip(ranks, gnd)]
    expected = np.nanmean(aps)
    kappas = (1, 5, 10)
    got, mpk = mean_average_precision(ranks, gnd, kappas=kappas)
    assert got == pytest.approx(expected, rel=1e-12)
    keep = [q for q in range(n_q) if len(gnd[q]["ok"])]
    for c, k in enumerate(kappas):
        ref = np.mean([reference_pk(ranks[q], gnd[q]["ok"], gnd[q]["junk"], k) for q in keep])
        assert mpk[c] == pytest.approx(ref)
    # Truncated rankings: positives beyond the cut are not retrieved.
    cut = ranks[:, :50]
    ref = np.nanmean([reference_ap(r, g["ok"], g["junk"]) for r, g in zip(cut, gnd)])
    assert mean_average_precision(cut, gnd) == pytest.approx(ref)
    # Per-query function agrees with the vectorised mean.
    assert np.nanmean([average_precision(r, g["ok"], g["junk"]) for r, g in zip(ranks, gnd)]) \
        == pytest.approx(expected)


def test_blocks_of_queries_give_the_same_result():
    import sklearn

    rng = np.random.default_rng(1)
    ranks = np.array([rng.permutation(500) for _ in range(30)])
    gnd = [{"ok": rng.choice(500, 7, replace=False), "junk": [q]} for q in range(30)]
    full = mean_average_precision(ranks, gnd)
    with sklearn.config_context(working_memory=0.01):  # a few queries per block
        assert mean_average_precision(ranks, gnd) == full


@settings(max_examples=60, deadline=None)
@given(
    n_db=st.integers(1, 30),
    data=st.data(),
)
def test_ap_properties(n_db, data):
    ranked = data.draw(st.permutations(range(n_db)))
    positives = data.draw(st.sets(st.integers(0, n_db - 1), min_size=1))
    junk = data.draw(st.sets(st.integers(0, n_db - 1))) - positives
    ap = average_precision(ranked, list(positives), list(junk))
    assert 0.0 <= ap <= 1.0 + 1e-12
    assert ap == pytest.approx(reference_ap(ranked, positives, junk))
    # Positives first: AP is 1 wherever the junk goes.
    rest = [i for i in ranked if i not in positives]
    assert average_precision(list(positives) + rest, list(positives), list(junk)) == 1.0
    # Junk is invisible: moving it anywhere else in the ranking changes nothing.
    others = [i for i in ranked if i not in junk]
    moved = list(others)
    for j in junk:
        moved.insert(data.draw(st.integers(0, len(moved))), j)
    assert average_precision(moved, list(positives), list(junk)) == pytest.approx(ap)
    # Removing the junk from the ranking is the same as declaring it junk.
    assert average_precision(others, list(positives)) == pytest.approx(ap)


# --- revisited and label protocols ------------------------------------------------------

def test_revisited_map_composes_the_classic_protocol():
    rng = np.random.default_rng(2)
    n_db = 100
    ranks = np.array([rng.permutation(n_db) for _ in range(12)])
    gnd = []
    for _ in range(12):
        items = rng.permutation(n_db)
        gnd.append({"easy": items[:5], "hard": items[5:9], "junk": items[9:12]})
    gnd[3]["hard"] = []  # no positive under Hard for this query
    got = revisited_map(ranks, gnd, kappas=[5])
    ok = lambda *keys: [np.concatenate([g[k] for k in keys]).astype(int) for g in gnd]  # noqa
    expected = {
        "easy": (ok("easy"), ok("junk", "hard")),
        "medium": (ok("easy", "hard"), ok("junk")),
        "hard": (ok("hard"), ok("junk", "easy")),
    }
    for name, (pos, junk) in expected.items():
        classic = [{"ok": p, "junk": j} for p, j in zip(pos, junk)]
        m, mpk = mean_average_precision(ranks, classic, kappas=[5])
        assert got[name][0] == pytest.approx(m)
        assert got[name][1] == pytest.approx(mpk)


def test_label_gnd_and_the_fast_label_path_agree():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 8, 60)
    labels[0] = 99  # a label seen once: that query has no positive
    ranks = np.array([rng.permutation(60) for _ in range(60)])
    gnd = label_gnd(labels)
    assert gnd[1]["junk"].tolist() == [1] and 1 not in gnd[1]["ok"]
    assert set(gnd[1]["ok"]) == set(np.flatnonzero(labels == labels[1])) - {1}
    aps = label_average_precisions(ranks, labels, labels, np.arange(60))
    assert np.isnan(aps[0])
    assert np.nanmean(aps) == pytest.approx(mean_average_precision(ranks, gnd))
    sub = label_gnd(labels, query_indices=[4, 7])
    assert [g["junk"].tolist() for g in sub] == [[4], [7]]
    with pytest.raises(ValueError, match="query_indices"):
        label_gnd(labels, query_indices=[60])


# --- real ground truth -----------------------------------------------------------------

@pytest.mark.parametrize("name", ["oxford5k", "paris6k"])
def test_real_ground_truth(name):
    path = _shared_data() / name / f"gnd_{name}.pkl"
    if not path.exists():
        pytest.skip(f"{path} is absent (set SALREG_SHARED_DATA)")
    with open(path, "rb") as f:
        cfg = pickle.load(f)
    gnd, n_db = cfg["gnd"], len(cfg["imlist"])
    assert len(gnd) == len(cfg["qimlist"]) == 55
    rng = np.random.default_rng(0)
    perfect = []
    for g in gnd:
        ok = np.asarray(g["ok"])
        rest = np.setdiff1d(np.arange(n_db), ok)
        perfect.append(np.concatenate([ok, rng.permutation(rest)]))
    assert mean_average_precision(np.array(perfect), gnd) == pytest.approx(1.0)
    # A random ranking scores about the share of positives among the non-junk images.
    share = np.mean([len(g["ok"]) / (n_db - len(g["junk"])) for g in gnd])
    random_maps = [
        mean_average_precision(np.array([rng.permutation(n_db) for _ in gnd]), gnd)
        for _ in range(3)
    ]
    assert 0.5 * share < np.mean(random_maps) < 2.0 * share


# --- saliency precision ----------------------------------------------------------------

def test_saliency_precision():
    S = np.zeros((6, 8))
    S[1:3, 1:4] = 1.0   # 6 units inside the first box
    S[5, 7] = 6.0       # 6 units outside
    assert saliency_precision(S, [[1, 1, 3, 4]]) == pytest.approx(0.5)
    # Overlapping boxes are a union: no double counting.
    assert saliency_precision(S, [[1, 1, 3, 4], [0, 0, 3, 3]]) == pytest.approx(0.5)
    assert saliency_precision(S, [[0, 0, 6, 8]]) == pytest.approx(1.0)
    assert saliency_precision(S, np.empty((0, 4), int)) == 0.0
    assert np.isnan(saliency_precision(np.zeros((4, 4)), [[0, 0, 2, 2]]))
    with pytest.raises(ValueError, match="outside"):
        saliency_precision(S, [[0, 0, 7, 8]])
    with pytest.raises(ValueError, match="negative"):
        saliency_precision(-S, [[0, 0, 2, 2]])
    with pytest.raises(ValueError, match="2-D"):
        saliency_precision(np.zeros(5), [[0, 0, 1, 1]])


def test_label_protocol_distractors_are_never_positives():
    from sklearn_salreg.metrics import label_average_precisions

    labels = np.array([0, 0, -1, -1, 1, 1])
    ranks = np.array([[0, 2, 3, 1, 4, 5], [2, 3, 0, 1, 4, 5], [0, 1, 2, 3, 4, 5]])
    aps = label_average_precisions(ranks, labels, labels[[0, 1, 2]], np.array([0, 1, 2]))
    # the distractors ranked first are negatives; the distractor query has no positive
    np.testing.assert_allclose(aps[:2], [(0 + 1 / 3) / 2, (0 + 1 / 3) / 2])
    assert np.isnan(aps[2])
    gnd = label_gnd(labels, [0, 1, 2])
    assert gnd[2]["ok"].size == 0 and gnd[0]["ok"].tolist() == [1]
    assert mean_average_precision(ranks, gnd) == pytest.approx(1 / 6)
