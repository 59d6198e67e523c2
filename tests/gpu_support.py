"""What the GPU tests (marked ``gpu``) share: where they run, tiny launches, bit-for-bit comparisons.

A GPU test imports fastwig like any other test and runs its kernels in the test process, so it runs
only where that process can run them:

- under numba's CUDA simulator: ``NUMBA_ENABLE_CUDASIM=1`` in the environment *before numba is
  imported* (it cannot be switched on from a conftest), as in the CI command's second run
  ``NUMBA_ENABLE_CUDASIM=1 FASTWIG_GPU_TPB=2 FASTWIG_GPU_MAX_BLOCKS=2 python -m pytest -q -m gpu``
  and the ``cudasim`` tox env;
- on a real CUDA device (the ``gpu`` tox env, which sets ``FASTWIG_GPU_TEST_MODE=real`` so that the
  tests fail rather than skip when the device is missing or the simulator is on).

Anywhere else they skip and say how to run them.  Launches are shrunk to 2 threads per block and at
most 2 blocks, so tiny inputs still span several blocks and grid-stride iterations; the simulator
runs every thread as a Python thread, so inputs stay small.

The fixtures built on these helpers (``gpu``, ``tiny_launches``, ``read_twins``) are in conftest.py.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

#: launch sizes of the twin checks: several blocks and grid-stride iterations on tiny inputs
TPB, BLOCKS = 2, 2

SIM_HINT = ("run `NUMBA_ENABLE_CUDASIM=1 FASTWIG_GPU_TPB=2 FASTWIG_GPU_MAX_BLOCKS=2 python -m pytest -m gpu` "
            "for the simulator")


def simulator_requested() -> bool:
    """Whether this process runs numba under the CUDA simulator (numba reads the variable once, at import)."""
    from numba.core import config

    return bool(config.ENABLE_CUDASIM)


def cuda_compiler(monkeypatch, cc: tuple[int, int], skip_reason: str):
    """``kernels.cuda`` with numba-cuda's own compiler in this process (not the simulator), told that
    the device has compute capability ``cc``.

    numba-cuda asks the driver for the device's compute capability even when only code is wanted; the
    answer is given here by hand (an internal hook: if it moves in a later numba-cuda, the test skips).
    Skips under the simulator (``skip_reason``) and without the numba-cuda package.
    """
    import pytest
    from support import require_numba_cuda_package

    if simulator_requested():
        pytest.skip(skip_reason)
    require_numba_cuda_package()
    from types import SimpleNamespace

    from fastwig._kernels import cuda_module

    kc = cuda_module()
    kc._cuda()
    try:
        from numba.cuda import dispatcher
    except ImportError as exc:
        pytest.skip(f"numba-cuda internals moved ({exc})")
    if not hasattr(dispatcher, "get_current_device"):
        pytest.skip("numba-cuda internals moved (numba.cuda.dispatcher.get_current_device)")
    monkeypatch.setattr(dispatcher, "get_current_device", lambda: SimpleNamespace(compute_capability=cc))
    return kc


def required_mode() -> str:
    """``FASTWIG_GPU_TEST_MODE``: ``real`` (a real device is required), ``sim`` (the simulator is
    required) or ``auto`` (whichever this process has; skip when it has neither)."""
    mode = os.environ.get("FASTWIG_GPU_TEST_MODE", "auto")
    if mode not in ("auto", "sim", "real"):
        raise ValueError(f"FASTWIG_GPU_TEST_MODE={mode!r}: expected auto, sim or real")
    return mode


def gpu_drivers():
    """The GPU drivers (fastwig's ``kernels.cuda``) when this process can run them, else ``(None, why)``.

    Returns ``(module, None)`` or ``(None, reason)``; a mode that ``FASTWIG_GPU_TEST_MODE`` requires
    but this process lacks is a reason too, which the ``gpu`` fixture turns into a failure.
    """
    from fastwig._kernels import cuda_module
    from fastwig.backend import device

    mode, sim = required_mode(), simulator_requested()
    if sim:
        if mode == "real":
            return None, "FASTWIG_GPU_TEST_MODE=real but NUMBA_ENABLE_CUDASIM is set"
        assert device.is_simulator(), "NUMBA_ENABLE_CUDASIM is set but fastwig's kernels do not run on the simulator"
        return Drivers(cuda_module()), None
    if mode == "sim":
        return None, "FASTWIG_GPU_TEST_MODE=sim but NUMBA_ENABLE_CUDASIM was not set before numba was imported"
    why = device.probe()            # imports numba.cuda and initialises the driver
    if why is not None:
        why = why if len(why) <= 80 else why[:77] + "..."
        return None, f"no CUDA device ({why}) and no simulator: {SIM_HINT}"
    return Drivers(cuda_module()), None


class Drivers:
    """The GPU kernels' drivers (``kernels.cuda``) and the CUDA runtime fastwig's executor uses
    (``fastwig.backend.device``: memory, streams, the simulator probe) under one name."""

    def __init__(self, kernels):
        from fastwig.backend import device

        self._sources = (kernels, device)

    def __getattr__(self, name):
        for src in self._sources:
            if hasattr(src, name):
                return getattr(src, name)
        raise AttributeError(name)


def bits(a) -> np.ndarray:
    """``a`` as a C-contiguous float32 array seen as uint32 (NaN payloads and -0.0 compared too)."""
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def assert_same_bits(got, want, label: str = "") -> None:
    """Assert two float32 arrays are equal bit for bit; the message locates the first difference."""
    got = np.ascontiguousarray(got, dtype=np.float32)
    want = np.ascontiguousarray(want, dtype=np.float32)
    assert got.shape == want.shape, f"{label}: shape {got.shape} vs {want.shape}"
    same = bits(got) == bits(want)
    if not same.all():
        first = tuple(int(i) for i in np.argwhere(~same)[0])
        raise AssertionError(f"{label}: {int((~same).sum())} of {same.size} values differ; first at {first}: "
                             f"{got[first]!r} vs {want[first]!r}")


class ReadTwins:
    """Runs one ``read_windows`` call on the CPU and on the GPU and asserts the results are the same bits.

    ``checks`` counts the comparisons made.  "No chromosome ..." warnings are expected in these batches
    and silenced.
    """

    def __init__(self, fastwig):
        self.fw = fastwig
        self.checks = 0

    def __call__(self, label, tracks, chroms, starts, width, **kw):
        starts = np.asarray(starts, np.int64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cpu = self.fw.read_windows(tracks, chroms, starts, width, **kw)
            dev = self.fw.read_windows(tracks, chroms, starts, width, device="cuda", **kw)
        assert hasattr(dev, "copy_to_host"), f"{label}: device result is a {type(dev).__name__}"
        got = dev.copy_to_host()
        assert got.dtype == np.float32, f"{label}: {got.dtype}"
        assert_same_bits(got, cpu, f"{label} {kw}")
        self.checks += 1
        return cpu
