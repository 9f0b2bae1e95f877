"""Where the torch computations run: checking a device, and whether bfloat16 pays there."""

import torch

__all__ = ["bfloat16_is_fast", "check_device"]


def check_device(device, owner):
    """``torch.device(device)``, or a ValueError naming the estimator and the device.

    Parameters
    ----------
    device : str or torch.device
        E.g. ``"cpu"``, ``"cuda"``, ``"cuda:1"`` (see :doc:`/scaling`).
    owner : str
        Who asked (an estimator's name), quoted in the error.

    Returns
    -------
    device : torch.device

    Examples
    --------
    >>> from sklearn_salreg.utils import check_device
    >>> check_device("cpu", "MyEstimator")
    device(type='cpu')
    """
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"{owner}: device={device!r} is not a torch device ({exc}).") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{owner}: device={str(device)!r} was asked for but torch sees no GPU.")
    return device


def bfloat16_is_fast(device="cpu"):
    """Whether bfloat16 products run natively on ``device`` (AVX512-BF16 / AMX on a
    CPU, compute capability 8 or more on a GPU); emulated ones are slower than float32.

    Parameters
    ----------
    device : str or torch.device, default="cpu"
        The device asked about.

    Returns
    -------
    fast : bool
        False where unknown.

    Examples
    --------
    >>> from sklearn_salreg.utils import bfloat16_is_fast
    >>> isinstance(bfloat16_is_fast("cpu"), bool)
    True
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8
    if device.type != "cpu":
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a private probe: absent means unknown
        return False
