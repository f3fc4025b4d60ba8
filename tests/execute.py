"""Execute chapters in place under the conditions the tests compare them in.

    .venv/bin/python tests/execute.py chapters/08_training.ipynb [more ...]

(``make execute NB="chapters/08_training.ipynb"`` runs this.) One thread, no progress
bars and the kernels' CPU settings of ``conftest.py``, so that the stored outputs are
the ones ``pytest --nbval`` reproduces on any x86-64 machine.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import conftest  # noqa: E402, F401  (sets the environment the kernels inherit)


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__)
        return 2
    jupyter = Path(sys.executable).parent / "jupyter"
    for path in paths:
        started = time.perf_counter()
        result = subprocess.run(
            [str(jupyter), "execute", "--inplace", path], cwd=ROOT, check=False
        )
        seconds = time.perf_counter() - started
        print(
            f"{path}: {'ok' if result.returncode == 0 else 'FAILED'} in {seconds:.0f} s"
        )
        if result.returncode:
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
