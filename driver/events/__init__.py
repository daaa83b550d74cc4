"""Driver events (SDAM, heartbeat, pool, command), each with explicit units, and listener plumbing."""
