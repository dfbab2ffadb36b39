"""The judged round's schema: one codec, a published JSON Schema, old rounds read back."""

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from probe.analysis.target_verdict import label_of
from probe.records import Transport
from probe.schema import (
    SchemaError,
    archive_entry,
    decode_entry,
    decode_round,
    decode_window,
    encode,
    json_schema,
    round_document,
    window_document,
)
from tests.test_metrics import finished, recorded

ROOT = Path(__file__).parent.parent
RECORDED = sorted(
    path
    for path in (ROOT / "tests" / "data").glob("lab-*.json")
    if "format" in json.loads(path.read_text())
)


def validator(definition: str) -> jsonschema.Draft202012Validator:
    """The published schema, narrowed to one of its documents."""
    published = json.loads((ROOT / "docs" / "schema.json").read_text())
    narrowed = {"$defs": published["$defs"], "$ref": f"#/$defs/{definition}"}
    return jsonschema.Draft202012Validator(narrowed)


def test_the_published_schema_is_the_one_this_version_writes() -> None:
    published = json.loads((ROOT / "docs" / "schema.json").read_text())

    assert published == json_schema(), "regenerate: python -m probe.schema > docs/schema.json"
    jsonschema.Draft202012Validator.check_schema(published)


def test_the_documents_the_probe_writes_follow_the_published_schema() -> None:
    rounds = [finished(recorded("lab-sni-police-replay.json")), finished(recorded("lab-loss.json"))]
    first = rounds[0]
    documents = {
        "RoundDocument": encode(round_document(first.result, first.config, "t", first.judgement)),
        "WindowDocument": encode(window_document(rounds, "t")),
        "ArchiveEntry": encode(archive_entry(first, "t")),
    }

    for definition, document in documents.items():
        validator(definition).validate(document)
    # Not a schema that takes anything: a verdict outside the vocabulary is refused.
    entry = documents["ArchiveEntry"]
    entry["targets"][0]["verdict"] = {**entry["targets"][0]["verdict"], "verdict": "maybe"}
    with pytest.raises(jsonschema.ValidationError) as refused:
        validator("ArchiveEntry").validate(entry)
    assert list(refused.value.path) == ["targets", 0, "verdict"]


def _labels(document: dict[str, Any]) -> dict[str, str]:
    """Each target's verdict as the file says it, read by key."""
    return {
        entry["name"]: label_of(entry["verdict"]["verdict"], entry["verdict"].get("mechanism")
                                or entry["verdict"].get("stage"))
        for entry in document["targets"]
        if entry.get("verdict")
    }  # fmt: skip


@pytest.mark.parametrize("path", RECORDED, ids=lambda path: path.stem)
def test_every_recorded_round_reads_back_to_its_verdicts(path: Path) -> None:
    """Recorded rounds (version 1, and 2) read back with the verdicts they hold, and
    written again by this version they read back the same."""
    raw = json.loads(path.read_text())

    document = decode_round(raw)
    again = decode_round(encode(document))

    verdicts = document.verdicts(Transport.TCP)
    assert {name: v.label for name, v in verdicts.items()} == _labels(raw)
    for name, verdict in verdicts.items():
        entry = next(e for e in raw["targets"] if e["name"] == name)
        assert verdict.reason == entry["verdict"]["reason"]
        controls = verdict.evidence.controls
        assert controls is not None
        expected = entry["evidence"]["controls"]["goodput_bytes_per_second"]
        assert controls.goodput_bytes_per_second == expected
    assert again == document
    assert again.result() == document.result()


def test_a_version_1_quic_close_without_its_frame_type_reads_back() -> None:
    """Version 1 kept a QUIC close in the evidence as its code and reason only."""
    raw = json.loads((ROOT / "tests" / "data" / "lab-clean.json").read_text())
    raw["targets"][0]["evidence"]["quic_close"] = {"code": 0x128, "reason": "handshake failure"}

    evidence = decode_round(raw).targets[0].evidence

    assert evidence is not None and evidence.quic_close is not None
    assert (evidence.quic_close.code, evidence.quic_close.frame_type) == (0x128, None)
    assert evidence.quic_close.reason == "handshake failure"


def test_a_document_of_another_kind_or_a_broken_one_is_one_sentence() -> None:
    raw = json.loads((ROOT / "tests" / "data" / "lab-clean.json").read_text())
    raw["targets"][1]["transfer"]["stop_reason"] = "bored"

    with pytest.raises(SchemaError, match=r"^not a throttle-probe.window/N document: 'throt"):
        decode_window(raw)
    with pytest.raises(SchemaError, match=r"^not a throttle-probe.round/N document"):
        decode_entry(raw)
    with pytest.raises(SchemaError, match=r"check/1 document, at targets\.1\.transfer\.stop_r"):
        decode_round(raw)
