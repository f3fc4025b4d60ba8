"""Shared test settings: one thread per process, a non-interactive plotting backend, hypothesis profiles."""

import os

# The suite runs two pytest workers on two cores, and each notebook kernel is a
# process of its own: with PyTorch's default of one thread per core they would
# fight over the cores and small operations get many times slower. One thread
# each is also how the stored outputs were produced. Kernels inherit this.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("XATTN_PROGRESS", "0")  # no progress bars in stored or compared outputs

import matplotlib

matplotlib.use("Agg")

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("ci", max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "default")

import torch  # noqa: E402

torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """Start the slowest tests first, so two workers finish together: coursework, then notebooks."""

    def rank(item):
        path = item.nodeid.split("::", 1)[0]
        if path.endswith("test_coursework.py"):
            return 0
        if path.endswith(".ipynb"):
            return 1
        return 2

    items.sort(key=rank)  # stable: the cells of a notebook keep their order


def pytest_xdist_make_scheduler(config, log):
    """Keep each notebook's cells on one worker, in order; spread everything else test by test."""
    from xdist.scheduler import LoadScopeScheduling

    class NotebookScope(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            path = nodeid.split("::", 1)[0]
            return path if path.endswith(".ipynb") else nodeid

    return NotebookScope(config, log)
