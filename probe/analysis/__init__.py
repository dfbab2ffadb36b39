"""Analysis: pure functions over records (no I/O), so they can be re-run on archives."""
