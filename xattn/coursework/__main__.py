"""``python -m xattn.coursework``: see :func:`xattn.coursework.main`."""

from xattn.coursework import main

raise SystemExit(main())
