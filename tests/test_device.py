"""One meaning of ``device`` on every estimator that has one."""

import re

import pytest

from sklearn_salreg import EGMRegionDetector, FeatureSaliency, RegionAggregator, RegionMaxPooler
from sklearn_salreg._base import DEVICE_PARAMETERS_DOC
from sklearn_salreg.detection import BoxQueryEGMDetector
from sklearn_salreg.saliency import ObjectSaliency
from sklearn_salreg.pipelines import make_os_egm, on_device

ESTIMATORS = [FeatureSaliency, EGMRegionDetector, RegionMaxPooler, RegionAggregator]


def device_doc(cls):
    """The docstring's paragraphs of ``device``, ``batch_size`` and ``n_jobs``."""
    found = re.search(r"\n    device : .*?(?=\n    verbose : )", cls.__doc__, re.S)
    assert found, f"{cls.__name__} documents no device"
    return found.group(0)


def test_device_is_documented_identically():
    docs = {cls.__name__: device_doc(cls) for cls in ESTIMATORS}
    assert len(set(docs.values())) == 1, docs
    assert "None: on the CPU, by the fastest implementation" in docs["FeatureSaliency"]
    # written once, in _base, and filled into each docstring (no marker left anywhere)
    assert docs["FeatureSaliency"] == "\n    " + DEVICE_PARAMETERS_DOC
    assert not any("%(device_parameters)s" in (cls.__doc__ or "")
                   for cls in ESTIMATORS + [BoxQueryEGMDetector, ObjectSaliency])


@pytest.mark.parametrize("cls", ESTIMATORS + [BoxQueryEGMDetector])
def test_device_defaults_to_none_and_accepts_none_and_devices(cls):
    assert cls().device is None
    constraints = cls._parameter_constraints["device"]
    assert None in constraints and str in constraints


@pytest.mark.parametrize("device", [None, "cpu"])
def test_on_device_sets_every_device(device):
    pipe = on_device(on_device(make_os_egm(), "cuda:1"), device)
    params = pipe.get_params()
    names = [key for key in params if key.endswith("__device")]
    assert {"fs__device", "egm__device", "pool__device"} <= set(names)
    assert all(params[key] == device for key in names)
