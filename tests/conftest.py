import os
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(os.environ.get(
    "SALREG_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def shared_data():
    if not SHARED_DATA.exists():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set SALREG_SHARED_DATA)")
    return SHARED_DATA
