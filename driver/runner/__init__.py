"""Processes: the supervisor (parent: spawn, sample, stop, merge) and the worker
(child: one event loop running the engine over its shared-memory block)."""
