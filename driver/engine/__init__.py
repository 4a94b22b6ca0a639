"""The engine of a worker: one scheduler drives units (virtual users of every kind)
paced by pure pacers; the fast HTTP client is the hot path."""
