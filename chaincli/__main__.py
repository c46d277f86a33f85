"""``python -m chaincli``: the same entry point as the installed ``chaincli`` script."""

from .cli.fast import main

main()
