"""Signal processing: pure kernels over arrays (no I/O, no randomness, nothing of the project)."""
