"""Output: the injected Environment and the renderers (imported on first use: rich is slow to load)."""

from mongocli.output.environment import EJSON_MODES, FORMATS, Environment

__all__ = ["EJSON_MODES", "FORMATS", "Environment"]
