"""Test settings for the whole repository (tests/ and the notebooks in chapters/).

It lives at the top so that pytest loads it whatever paths it is given: one thread per
process, a non-interactive plotting backend, hypothesis profiles, and the scheduling
of notebooks across pytest-xdist workers.
"""

import os
import platform


def _numpy_avx512_names() -> str:
    """NumPy's names for its AVX-512 kernels (renamed in 2.4), without importing it."""
    from importlib.metadata import version

    major, minor = (int(part) for part in version("numpy").split(".")[:2])
    if (major, minor) >= (2, 4):
        return "X86_V4 AVX512_ICL AVX512_SPR"
    return (
        "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL "
        "AVX512_ICL"
    )


# The same digits on every x86-64 CPU. The stored outputs are compared digit for
# digit, and training amplifies a difference in the last bit of a sum into a
# different third decimal. PyTorch, NumPy and OpenBLAS pick their kernels by the
# CPU (AVX-512 on some, AVX2 on others): these pin them to their AVX2 kernels, which
# every x86-64 CPU of the last ten years has. MKL, PyTorch's matrix products, takes
# the branch it is told (MKL_CBWR) on Intel CPUs but chooses its own on AMD ones,
# except in its COMPATIBLE mode, which computes the same bits on both (for about half
# again the time of a training step). Kernels and nbgrader's grading runs inherit
# these. On other CPUs (ARM) none is set. They are set before NumPy or PyTorch is
# imported: both read them once.
REPRODUCIBLE = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "COMPATIBLE",
    "NPY_DISABLE_CPU_FEATURES": _numpy_avx512_names(),
    "OPENBLAS_CORETYPE": "Haswell",
}
if platform.machine().lower() in ("x86_64", "amd64"):
    os.environ.update(REPRODUCIBLE)

# The suite runs two pytest workers on two cores, and each notebook kernel is a
# process of its own: with PyTorch's default of one thread per core they would
# fight over the cores and small operations get many times slower. One thread
# each is also how the stored outputs were produced. Kernels inherit this.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
# No progress bars in stored or compared outputs.
os.environ.setdefault("XATTN_PROGRESS", "0")

import matplotlib  # noqa: E402 (after the thread settings, which it must not precede)

matplotlib.use("Agg")

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "default",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci", max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else "default")

import torch  # noqa: E402

torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """Slowest first, so that two workers finish together: coursework, notebooks."""

    def rank(item):
        if item.path.name in ("test_coursework.py", "test_grading.py"):
            return 0
        if item.path.suffix == ".ipynb":
            return 1
        return 2

    items.sort(key=rank)  # stable: the cells of a notebook keep their order


def pytest_xdist_make_scheduler(config, log):
    """Each notebook's cells on one worker, in order; the grading workflow on one;
    everything else test by test."""
    from xdist.scheduler import LoadScopeScheduling

    class NotebookScope(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            # nbval names a cell "chapters/NN_name::ipynb::Cell 7" (or "...ipynb::Cell
            # 7").
            if "::Cell " in nodeid:
                return nodeid.split("::Cell ", 1)[0]
            # One worker for the grading workflow: its module fixture grades a whole
            # course, which a second worker would do all over again.
            if nodeid.startswith("tests/test_grading.py::"):
                return "tests/test_grading.py"
            return nodeid

    return NotebookScope(config, log)
