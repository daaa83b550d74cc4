"""Unified test format support: matching rules (pure) used by the unified spec runners."""
