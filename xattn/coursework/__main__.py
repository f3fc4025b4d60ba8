"""``python -m xattn.coursework``: see :func:`xattn.coursework.main`."""

from xattn.coursework import main

if __name__ == "__main__":
    raise SystemExit(main())
