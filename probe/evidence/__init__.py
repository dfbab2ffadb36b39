"""Reading the evidence back: the archive's entries, their episodes, ``report`` and its page."""
