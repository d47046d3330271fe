"""Recorded HTTP exchanges (VCR.py YAML and Betamax JSON cassettes) as plain records."""

from __future__ import annotations

import functools
import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Exchange:
    method: str
    uri: str
    status: int
    headers: dict[str, str]
    body: bytes


def _first(value: object) -> str:
    return str(value[0]) if isinstance(value, list) and value else str(value)


def _body(raw: object, headers: dict[str, str]) -> bytes:
    body = raw if isinstance(raw, bytes) else str(raw or "").encode()
    if headers.get("content-encoding", "") == "gzip" or body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    return body


@functools.cache
def load(path: Path) -> list[Exchange]:
    """Every exchange of a VCR (``.yaml``) or Betamax (``.json``) cassette, bodies decoded."""
    if path.suffix == ".json":
        interactions = json.loads(path.read_text())["interactions"]
    else:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        interactions = yaml.load(path.read_text(), Loader=loader)["interactions"]
    out = []
    for interaction in interactions:
        request, response = interaction["request"], interaction["response"]
        headers = {k.lower(): _first(v) for k, v in (response.get("headers") or {}).items()}
        status = response["status"]["code"]
        body = response["body"].get("string", "")
        out.append(
            Exchange(request["method"], request["uri"], int(status), headers, _body(body, headers))
        )
    return out
