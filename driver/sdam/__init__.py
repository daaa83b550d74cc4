"""Server discovery and monitoring: descriptions, transitions, selection, live topology."""
