"""Allow ``python -m veille``."""

from veille.cli import main

main()
