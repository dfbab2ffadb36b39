"""The JSON document of a run (``check --json``): stable, versioned, self-describing.

One round gives a ``RoundDocument``, several a ``WindowDocument``
(probe.schema owns both, and their codec).
"""

import json
import sys

from probe.schema import FinishedRound, encode, round_document, window_document
from probe.sinks import OutputError
from probe.wording import os_reason


class JsonSink:
    """``check --json``: one document on standard output once the run is over."""

    def __init__(self, source: str) -> None:
        self._source = source
        self._finished: list[FinishedRound] = []

    def round_finished(self, finished: FinishedRound) -> None:
        self._finished.append(finished)

    def close(self) -> None:
        rounds = self._finished
        if not rounds:
            return
        if len(rounds) == 1:
            only = rounds[0]
            document = encode(
                round_document(only.result, only.config, self._source, only.judgement)
            )
        else:
            document = encode(window_document(rounds, self._source))
        try:
            sys.stdout.write(json.dumps(document, indent=2) + "\n")
            sys.stdout.flush()
        except OSError as error:
            raise OutputError(f"Cannot write the JSON document: {os_reason(error)}.") from None
