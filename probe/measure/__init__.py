"""Measurement steps. Each is an async function that returns a record, failure included.

Nothing here knows about Prometheus, click or the terminal: progress is
reported through the small ``ProgressListener`` protocol in ``round``.
"""
