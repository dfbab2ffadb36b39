"""Reading ``check --json`` documents in tests as a user's script would: by key."""

from typing import Any


def tcp_entries(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The document's entries over TCP (each target is listed once per transport)."""
    return [entry for entry in document["targets"] if entry["transport"] == "tcp"]


def verdict_label(verdict: dict[str, Any]) -> str:
    """``throttled/policing``, ``blocked/tls``, ``ok``: a document's verdict in one word."""
    detail = verdict.get("mechanism") or verdict.get("stage")
    return str(verdict["verdict"]) + (f"/{detail}" if detail else "")


def png_size(data: bytes) -> tuple[int, int]:
    """A PNG's width and height, from its IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
