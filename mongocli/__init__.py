"""mongocli: a command-line MongoDB client and diagnostics shell."""

__version__ = "0.1.0"
