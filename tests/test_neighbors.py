"""sklearn_salreg.neighbors: the indexes, the k-NN graphs, the graph solver, the top-k."""

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sklearn_salreg.neighbors import (ExactIndex, extend_neighbor_graph,
                                      mutual_graph_from_neighbors, mutual_knn_graph,
                                      normalize_graph, solve_graph_system, top_k_rows)
from sklearn_salreg.neighbors import _exact as _search


def _unit(X):
    X = np.asarray(X, dtype=np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.integers(1, 30), st.integers(1, 30))
def test_matches_a_lexicographic_sort(seed, n_rows, n_cols, k):
    rng = np.random.default_rng(seed)
    S = rng.integers(0, 4, (n_rows, n_cols)).astype(np.float32)  # many ties on purpose
    k = min(k, n_cols)
    sims, idx = top_k_rows(S, k)
    cols = np.arange(n_cols)
    for row in range(n_rows):
        expected = np.lexsort((cols, -S[row]))[:k]
        np.testing.assert_array_equal(idx[row], expected)
        np.testing.assert_array_equal(sims[row], S[row, expected])


@pytest.mark.parametrize("kind", ["uniform", "ascending", "few values", "one value",
                                  "largest where sampled"])
def test_candidates_of_a_long_row_are_its_largest_entries(kind):
    # A long row with many candidates takes the sampled-threshold shortcut, or falls
    # back to the plain heap when too few or too many entries reach the threshold.
    from sklearn_salreg.neighbors._kernels import _top_candidates

    c, n = 200, 200 * 70
    rng = np.random.default_rng(0)
    row = {"uniform": rng.random(n), "ascending": np.linspace(0, 1, n),
           "few values": rng.integers(0, 50, n), "one value": np.ones(n),
           "largest where sampled": (np.arange(n) % 16 == 0) + rng.random(n)}[kind]
    row = row.astype(np.float32)
    values, items = np.empty(c, np.float32), np.empty(c, np.int64)
    _top_candidates(row, c, values, items)
    assert len(set(items.tolist())) == c
    np.testing.assert_array_equal(row[items], values)
    np.testing.assert_array_equal(np.sort(values), np.sort(row)[-c:])


@pytest.mark.parametrize("d", [1, 7, 8, 13, 64])
def test_four_row_float64_products_equal_one_row_at_a_time(d):
    from sklearn_salreg.neighbors._kernels import dot64, dots64

    rng = np.random.default_rng(d)
    D = rng.standard_normal((50, d)).astype(np.float32)
    q = rng.standard_normal(d).astype(np.float32)
    for n in (0, 1, 4, 9):
        ids = rng.choice(50, n, replace=False)
        out = np.empty(n)
        dots64(q, D, ids, out)
        assert [float(x) for x in out] == [dot64(q, D[j]) for j in ids]


def test_exact_top_k_deep_ranking_is_the_float64_one_alone_or_in_a_batch():
    # k = 150 of 12,000 rows: the candidates come through the sampled threshold.
    from sklearn_salreg.neighbors import exact_top_k

    rng = np.random.default_rng(3)
    D = _unit(rng.normal(size=(40, 16))[rng.integers(0, 40, 12_000)]
              + 0.05 * rng.normal(size=(12_000, 16)))
    Q = _unit(D[:6] + 0.01)
    sims, idx = exact_top_k(Q, D, 150)
    S = Q.astype(np.float64) @ D.T.astype(np.float64)
    expected = np.argsort(-S, axis=1, kind="stable")[:, :150]
    np.testing.assert_array_equal(idx, expected)
    np.testing.assert_array_equal(sims, np.take_along_axis(S, expected, 1).astype(np.float32))
    alone = np.concatenate([exact_top_k(q[None], D, 150)[1] for q in Q])
    np.testing.assert_array_equal(alone, idx)


# -- the k-NN graphs ----------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    arrays(np.float32, st.tuples(st.integers(3, 25), st.just(4)),
           elements=st.floats(-1, 1, width=32)),
    st.integers(1, 6),
    st.sampled_from([1, 3]),
)
def test_mutual_knn_graph_is_symmetric_and_mutual(V, k, beta):
    k = min(k, len(V) - 1)
    W = mutual_knn_graph(V, n_neighbors=k, beta=beta)
    dense = W.toarray()
    assert W.dtype == np.float32
    assert (dense == dense.T).all()
    assert (np.diag(dense) == 0).all() and (dense >= 0).all()
    sims, indices = ExactIndex(np.ascontiguousarray(V)).neighbor_graph(k)
    listed = np.zeros_like(dense, dtype=bool)
    listed[np.repeat(np.arange(len(V)), k), indices.ravel()] = True
    # An edge only between mutual neighbours, weighted max(v_i.v_j, 0)^beta.
    assert not (dense > 0)[~(listed & listed.T)].any()
    i, j = np.nonzero(dense)
    np.testing.assert_allclose(dense[i, j], np.maximum((V[i] * V[j]).sum(1), 0) ** beta,
                               rtol=1e-4, atol=1e-6)


def test_graph_from_neighbors_ignores_missing_and_self():
    indices = np.array([[1, -1], [0, 1], [0, 1]])
    sims = np.array([[0.5, 0.9], [0.5, 1.0], [0.2, 0.3]], dtype=np.float32)
    W = mutual_graph_from_neighbors(sims, indices, beta=1).toarray()
    np.testing.assert_allclose(W, [[0, 0.5, 0], [0.5, 0, 0], [0, 0, 0]])


# -- the exact search --------------------------------------------------------------


def test_exact_search_in_small_blocks_matches_full_sort(rng):
    with sklearn.config_context(working_memory=0.001):  # blocks of 64 rows
        _exact_search_matches_full_sort(rng)


def _exact_search_matches_full_sort(rng):
    V = _unit(rng.normal(size=(150, 6)))
    U = _unit(rng.normal(size=(200, 6)))
    sims, indices = ExactIndex(V).query(U, 5)
    S = U @ V.T
    np.testing.assert_array_equal(indices, np.argsort(-S, axis=1)[:, :5])
    np.testing.assert_allclose(sims, np.take_along_axis(S, indices, 1), rtol=1e-5)
    self_sims, self_ind = ExactIndex(V).neighbor_graph(4)
    np.fill_diagonal(S := V @ V.T, -np.inf)
    np.testing.assert_array_equal(self_ind, np.argsort(-S, axis=1)[:, :4])


def _float32_top_k(U, V, k):
    """Reference: float64 products, ties broken by increasing index."""
    S = U.astype(np.float64) @ V.astype(np.float64).T
    order = np.lexsort((np.broadcast_to(np.arange(len(V)), S.shape), -S), axis=1)[:, :k]
    return order, np.take_along_axis(S, order, 1)


@pytest.mark.parametrize("n, d, k, scale", [(1000, 16, 10, 1.0), (130, 8, 5, 3.0),
                                            (40, 4, 39, 0.2), (3000, 64, 1, 1.0)])
def test_bfloat16_screen_finds_the_float32_neighbours(rng, n, d, k, scale):
    """The screened search is exact: same neighbours as float32 (norms not 1 included)."""
    V = (scale * rng.normal(size=(n, d))).astype(np.float32)
    U = rng.normal(size=(700, d)).astype(np.float32)
    with sklearn.config_context(working_memory=0.001):  # blocks of 64 queries
        sims, indices = ExactIndex(V, precision="bfloat16").query(U, k)
    expected, expected_sims = _float32_top_k(U, V, k)
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(sims, expected_sims, rtol=1e-5, atol=1e-5 * scale)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 3000), k=st.integers(1, 12), seed=st.integers(0, 2**31 - 1),
       levels=st.sampled_from([3, 50, 30000]))
def test_bfloat16_screen_top_blocks_are_the_largest_block_maxima(n, k, seed, levels):
    """The two-level selection (top groups, then their blocks) returns the m largest
    block maxima, ties and negative keys included, with indices that hold them."""
    k = min(k, n)
    screen = _search._BF16Screen(torch.zeros((n, 2)), k)
    rng = np.random.default_rng(seed)
    block_max = torch.from_numpy(
        rng.integers(-levels, levels, size=(7, screen.n_blocks)).astype(np.int16))
    values, indices = screen._top_blocks(block_max)
    m = min(screen.m, screen.n_blocks)
    expected = torch.topk(block_max, m, dim=1).values
    np.testing.assert_array_equal(values.numpy(), expected.numpy())
    np.testing.assert_array_equal(torch.gather(block_max, 1, indices).numpy(), values.numpy())
    assert all(len(set(row)) == m for row in indices.tolist())


@pytest.mark.parametrize("n, d, k, scale", [(3000, 64, 10, 1.0), (300, 8, 5, 3.0),
                                            (40, 4, 39, 0.2), (500, 16, 1, 1.0)])
def test_bfloat16_screen_kernel_and_torch_operations_certify_exact_rows(rng, n, d, k, scale):
    """The compiled CPU pass and the torch operations (the GPU path, run here on the
    CPU) select their candidates differently; every row either certifies holds the
    float32 neighbours, and both certify most rows (none when k exceeds the number of
    blocks: the kernel then leaves every row to the float32 search)."""
    base = _unit(rng.normal(size=(max(n // 20, 1), d)))
    V = (scale * (np.repeat(base, 20, axis=0)[:n] + 0.3 * rng.normal(size=(n, d))))
    U = (base[rng.integers(0, len(base), 500)] + 0.3 * rng.normal(size=(500, d)))
    V, U = V.astype(np.float32), U.astype(np.float32)
    expected, expected_sims = _float32_top_k(U, V, k)
    for kernel in (True, False):
        screen = _search._BF16Screen(torch.from_numpy(V), k, kernel=kernel)
        buffer = torch.empty((len(U), len(screen.Vb)), dtype=torch.bfloat16)
        sims, ids, cert = screen.search(torch.from_numpy(U), buffer)
        if kernel and k > screen.n_blocks:
            assert not cert.any()
            continue
        assert cert.mean() > 0.5
        np.testing.assert_array_equal(ids[cert], expected[cert])
        np.testing.assert_allclose(sims[cert], expected_sims[cert], rtol=1e-5,
                                   atol=1e-5 * scale)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_exact_index_answers_no_queries(rng, precision):
    V = _unit(rng.normal(size=(100, 8)))
    sims, indices = ExactIndex(V, precision).query(np.zeros((0, 8), np.float32), 5)
    assert indices.shape == sims.shape == (0, 5)


def test_bfloat16_screen_falls_back_on_near_ties(rng):
    """Many database rows within the rounding margin of the k-th: the rows cannot be
    certified by the screen and are searched again in float32, with the same result."""
    base = _unit(rng.normal(size=(50, 32)))
    V = np.repeat(base, 40, axis=0) + 1e-4 * rng.normal(size=(2000, 32))
    V[::7] = base[0]  # exact duplicates: ties broken by index
    U = base[rng.integers(0, 50, 300)] + 1e-3 * rng.normal(size=(300, 32))
    V, U = V.astype(np.float32), U.astype(np.float32)
    screen = _search._BF16Screen(torch.from_numpy(V), 10)
    buffer = torch.empty((300, len(screen.Vb)), dtype=torch.bfloat16)
    _, _, certified = screen.search(torch.from_numpy(U), buffer)
    assert not certified.all()
    _, indices = ExactIndex(V, precision="bfloat16").query(U, 10)
    np.testing.assert_array_equal(indices, ExactIndex(V).query(U, 10)[1])


def test_bfloat16_beyond_the_kernel_limit_is_the_float32_search(rng):
    """More neighbours than the CPU kernel screens: the float32 search answers."""
    V = _unit(rng.normal(size=(500, 16)))
    U = _unit(rng.normal(size=(50, 16)))
    k = _search._KERNEL_MAX_K + 6
    sims, indices = ExactIndex(V, precision="bfloat16").query(U, k)
    expected_sims, expected = ExactIndex(V).query(U, k)
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_array_equal(sims, expected_sims)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 6), k1=st.integers(1, 5), k2=st.integers(1, 5), seed=st.integers(0, 999))
def test_merge_neighbors_is_the_top_k_of_both_lists(n, k1, k2, seed):
    from sklearn_salreg.neighbors import merge_neighbors

    rng = np.random.default_rng(seed)
    sims_all = rng.integers(0, 4, size=(n, k1 + k2)).astype(np.float32) / 4  # ties on purpose
    ids = np.stack([rng.permutation(50)[: k1 + k2] for _ in range(n)])
    k = int(rng.integers(1, k1 + k2 + 1))
    sims, idx = merge_neighbors(sims_all[:, :k1], ids[:, :k1], sims_all[:, k1:], ids[:, k1:], k)
    for r in range(n):  # by hand: decreasing similarity, ties by increasing index
        expected = sorted(zip(-sims_all[r], ids[r]))[:k]
        assert idx[r].tolist() == [int(i) for _, i in expected]
        np.testing.assert_array_equal(sims[r], [-s for s, _ in expected])




# -- the graph solver: one CG for Katz centrality and diffusion ------------------------


def _normalised_graph(rng, n=80, k=6, d=8):
    V = _unit(rng.normal(size=(n, d)))
    return normalize_graph(mutual_knn_graph(V, n_neighbors=k)).astype(np.float64)


def test_solver_matches_a_dense_solve_column_by_column(rng):
    Wn = _normalised_graph(rng)
    A = np.eye(80) - 0.9 * Wn.toarray()
    B = rng.normal(size=(80, 3))
    B[:, 2] = 0  # a zero right-hand side: zero, converged, no 0/0
    X, info = solve_graph_system(Wn, B, alpha=0.9, tol=1e-12, max_iter=500)
    np.testing.assert_allclose(X, np.linalg.solve(A, B), rtol=1e-8, atol=1e-12)
    assert info["converged"].all() and np.all(info["residual"] <= 1e-12)
    # Columns are independent: a column alone gets the same answer (up to the rounding
    # of matrix and vector products).
    alone, _ = solve_graph_system(Wn, B[:, :1].copy(), alpha=0.9, tol=1e-12, max_iter=500)
    np.testing.assert_allclose(alone[:, 0], X[:, 0], rtol=1e-10, atol=1e-14)
    # A callable graph is the same operator.
    same, _ = solve_graph_system(lambda P: Wn @ P, B, alpha=0.9, tol=1e-12, max_iter=500)
    np.testing.assert_array_equal(same, X)


def test_solver_warm_start_saves_iterations_and_max_iter_is_reported(rng):
    Wn = _normalised_graph(rng)
    B = rng.normal(size=(80, 2))
    cold, cold_info = solve_graph_system(Wn, B, alpha=0.99, tol=1e-10, max_iter=1000)
    warm, warm_info = solve_graph_system(Wn, B, alpha=0.99, tol=1e-10, max_iter=1000,
                                         x0=cold * (1 + 1e-5))
    np.testing.assert_allclose(warm, cold, rtol=1e-7)
    assert warm_info["n_iter"] < cold_info["n_iter"]
    _, short = solve_graph_system(Wn, B, alpha=0.99, tol=1e-10, max_iter=2)
    assert short["n_iter"] == 2 and not short["converged"].any()


def test_numba_subset_cg_of_diffusion_equals_the_shared_solver(rng):
    """The per-subset CG compiled for the decoupled diffusion (search) solves the same
    system as the shared solver, on the whole graph and on a sub-graph."""
    from sklearn_salreg.search import item_diffusions

    Wn = _normalised_graph(rng, n=40, k=5)
    n = 40
    F = item_diffusions(Wn, np.tile(np.arange(n), (n, 1)), alpha=0.9, tol=1e-10,
                        max_iter=500).toarray()
    X, _ = solve_graph_system(Wn, np.eye(n), alpha=0.9, tol=1e-10, max_iter=500)
    np.testing.assert_allclose(F, X.T, rtol=1e-6, atol=1e-7)  # F is float32
    subset = np.sort(rng.choice(n, 15, replace=False))
    rows = np.array([np.concatenate([[i], subset[subset != i]])[:15] for i in subset[:3]])
    F = item_diffusions(Wn[rows[0]][:, rows[0]], np.tile(np.arange(15), (1, 1)), alpha=0.9,
                        tol=1e-10, max_iter=500).toarray()
    X, _ = solve_graph_system(Wn[rows[0]][:, rows[0]], np.eye(15)[:, :1], alpha=0.9,
                              tol=1e-10, max_iter=500)
    np.testing.assert_allclose(F[0], X[:, 0], rtol=1e-6, atol=1e-7)


# -- growing a k-NN graph ---------------------------------------------------------------


@pytest.mark.parametrize("n_old, n_new, k", [(50, 5, 4), (10, 40, 6), (3, 2, 4)])
def test_extend_neighbor_graph_is_the_graph_of_all_rows(rng, n_old, n_new, k):
    V = _unit(rng.normal(size=(n_old + n_new, 6)))
    k_old = min(k, n_old - 1)
    sims, indices = extend_neighbor_graph(V[:n_old], *ExactIndex(V[:n_old]).neighbor_graph(k_old),
                                          V[n_old:], k)
    expected_sims, expected = ExactIndex(V).neighbor_graph(k)
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(sims, expected_sims, rtol=1e-6)
    assert sims.dtype == np.float32 and indices.dtype == np.int64


def test_graph_from_neighbors_refuses_the_old_argument_order():
    with pytest.raises(ValueError, match=r"\(sims, indices\)"):
        mutual_graph_from_neighbors(np.array([[1]]), np.array([[0.5]]))


def test_every_index_returns_similarities_then_int64_indices(rng):
    V = _unit(rng.normal(size=(60, 5)))
    for precision in ("float32", "bfloat16"):
        for sims, indices in (ExactIndex(V, precision).query(V[:7], 4),
                              ExactIndex(V, precision).neighbor_graph(4)):
            assert sims.dtype == np.float32 and indices.dtype == np.int64
            assert np.all(np.diff(sims, axis=1) <= 0)
