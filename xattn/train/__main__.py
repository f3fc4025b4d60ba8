"""``python -m xattn.train``: train the date model from the command line or torchrun."""

from xattn.train import main

if __name__ == "__main__":
    raise SystemExit(main())
