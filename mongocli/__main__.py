"""`python -m mongocli` runs the command line."""

from mongocli.cli import main

main()
