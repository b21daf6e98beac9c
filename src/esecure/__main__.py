"""`python -m esecure` runs the command-line tool."""

from esecure.cli import main

main()
