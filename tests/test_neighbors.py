"""The shared row-wise top-k: largest first, ties by increasing index."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_salreg.neighbors import top_k_rows


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
