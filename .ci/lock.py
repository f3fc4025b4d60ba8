"""Regenerate requirements.lock: the book's whole environment at exact versions.

Run by ``make lock``. This is a thin wrapper around ``uv pip compile --universal``:
uv resolves the project's dependencies (pyproject.toml, extras ``book`` and
``test``) once for every Python from 3.10 up and every platform, and writes one
requirements file whose environment markers pick the pins (by Python version,
down to the patch level where a package needs it, e.g. ``python_full_version >=
'3.11.5'``, and by platform: ``appnope`` on macOS, ``colorama``/``pywinpty`` on
Windows). Plain ``pip install -r requirements.lock`` reads it.

Why uv and not the hand-made resolver this script used to be (which froze a venv
of the running 3.11 and merged it with pip's ``--python-version 3.10`` dry run):
that one gave 3.12 and 3.13 the 3.11 pins and every platform the Linux set, so it
missed the macOS/Windows-only packages, kept ``overrides`` where no package needs
it, and pinned ``soupsieve`` (Requires-Python >=3.11.5) for all of 3.11. Its 3.10
pass also trusted the index pages for Requires-Python, and a local mirror in pip's
configuration gives none: rerun, it pinned IPython 9 and ipykernel 7.4 (both need
3.11) for 3.10. uv reads each package's own metadata, from PyPI only (it does not
read pip's configuration), and handles all of these.

Two additions to pyproject.toml: ``torch==2.13.0`` (pyproject only says >=2.5)
and the build backend of pyproject's ``[build-system]`` (setuptools), since the
Makefile installs the project with ``--no-build-isolation``.

PyTorch's CUDA libraries (nvidia-*, cuda-*, triton, and whatever only they pull
in) are resolved but not written: pip chooses them for the platform. The CPU
wheel of torch 2.13.0 this machine installs needs none of them, and pinning them
would make every Linux install download gigabytes.

uv comes from PATH (or $UV); where there is none, it is installed into a
temporary virtual environment first, so ``make lock`` works on a fresh machine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
# The uv this lock was checked with; installed when there is none on PATH.
UV_VERSION = "uv==0.13.9"
OLDEST_PYTHON = "3.10"  # pyproject's requires-python
EXTRAS = ("book", "test")
TORCH = "torch==2.13.0"
BUILD_BACKEND = "setuptools>=77"  # pyproject's [build-system] requires
CUDA_ONLY = re.compile(r"^(nvidia-.*|cuda-.*|triton)$")
LINUX_ONLY = re.compile(r"sys_platform == 'linux'|platform_system == 'Linux'")


def find_uv(tmp: Path) -> str:
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv:
        return uv
    print(
        f"no uv on PATH: installing {UV_VERSION} into a temporary venv", file=sys.stderr
    )
    venv.create(tmp / "uv", with_pip=True)
    py = tmp / "uv" / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", UV_VERSION], check=True)
    return str(tmp / "uv" / "bin" / "uv")


def compile_(uv: str, extra_in: Path, *args: str) -> str:
    cmd = [
        uv,
        "pip",
        "compile",
        "--no-config",
        "--quiet",
        "--no-python-downloads",
        "--python",
        sys.executable,  # only runs builds; --python-version sets the target
        "pyproject.toml",
        str(extra_in),
        *(f"--extra={e}" for e in EXTRAS),
        "--universal",
        f"--python-version={OLDEST_PYTHON}",
        *args,
    ]
    return subprocess.run(
        cmd, cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def parse(compiled: str) -> dict[str, tuple[set[str], list[str]]]:
    """Name -> (the packages that pull it in, its markers), from uv's annotations."""
    pkgs: dict[str, tuple[set[str], list[str]]] = {}
    current = None
    for line in compiled.splitlines():
        if line and not line.startswith((" ", "#")):
            name, _, rest = line.partition("==")
            current = name.strip().lower()
            parents, markers = pkgs.setdefault(current, (set(), []))
            markers.append(rest.partition(";")[2].strip())
            continue
        text = line.strip().removeprefix("#").strip()
        if current and text and text != "via":
            parents.add(text.removeprefix("via ").split(" ")[0].lower())
    return pkgs


def cuda_only(pkgs: dict[str, tuple[set[str], list[str]]]) -> list[str]:
    """nvidia-*, cuda-*, triton, what torch needs on Linux only, and their deps."""
    out = {n for n in pkgs if CUDA_ONLY.match(n)}
    out |= {
        n
        for n, (parents, markers) in pkgs.items()
        if parents == {"torch"} and all(LINUX_ONLY.search(m) for m in markers)
    }
    while True:
        more = {
            n
            for n, (parents, _) in pkgs.items()
            if n not in out and parents and parents <= out
        }
        if not more:
            return sorted(out)
        out |= more


def main() -> None:
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        uv = find_uv(tmp)
        extra_in = tmp / "lock-extra.in"
        extra_in.write_text(f"{TORCH}\n{BUILD_BACKEND}\n")
        skipped = cuda_only(parse(compile_(uv, extra_in)))
        body = compile_(
            uv,
            extra_in,
            "--no-header",
            "--annotation-style=line",
            *(f"--no-emit-package={n}" for n in skipped),
        )
        # Name the pins added here, not a temporary path.
        body = body.replace(f"-r {extra_in}", ".ci/lock.py")
        uv_version = (
            subprocess.run(
                [uv, "--version"], check=True, capture_output=True, text=True
            )
            .stdout.split(" (")[0]
            .strip()
        )
    extras = " ".join(f"--extra={e}" for e in EXTRAS)
    header = [
        "requirements.lock: the whole environment of the book at exact versions.",
        "Generated by `make lock` (.ci/lock.py) from pyproject.toml; do not edit.",
        f"{uv_version}: uv pip compile pyproject.toml {extras} --universal"
        f" --python-version={OLDEST_PYTHON}, plus {TORCH} and {BUILD_BACKEND}.",
        f"One file for Python {OLDEST_PYTHON} and newer on Linux, macOS and Windows:"
        " the environment markers pick the pins.",
        "PyTorch's CUDA libraries (nvidia-*, cuda-*, triton) are not pinned: pip"
        " chooses them for the platform (the CPU wheel of torch needs none)."
        " Left out: " + ", ".join(skipped) + ".",
    ]
    lines = [
        wrapped
        for paragraph in header
        for wrapped in textwrap.wrap(
            paragraph,
            86,
            initial_indent="# ",
            subsequent_indent="#   ",
            break_on_hyphens=False,
        )
    ]
    LOCK.write_text("\n".join(lines) + "\n" + body)
    pins = sum(
        1 for line in body.splitlines() if line and not line.startswith(("#", " "))
    )
    print(
        f"wrote requirements.lock: {pins} pins, {len(skipped)} CUDA packages left"
        f" to pip, in {time.monotonic() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
