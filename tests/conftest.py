"""Shared test settings: a non-interactive plotting backend and hypothesis profiles."""

import os

import matplotlib

matplotlib.use("Agg")

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("ci", max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "default")


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
