"""``python -m mixedmodels``: the command line, as the ``mixedmodels`` script."""

from mixedmodels.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
