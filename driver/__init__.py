"""mongocli's embedded MongoDB driver core, following the official driver specifications."""

__version__ = "0.1.0"
DRIVER_NAME = "mongocli-driver"
