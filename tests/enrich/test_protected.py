import json
from pathlib import Path

import pytest

from veille.enrich.base import Document
from veille.enrich.personal_data import PersonalDataDetector
from veille.enrich.protected import ProtectedDetector, ProtectedList, doxxing


@pytest.fixture
def protected() -> ProtectedList:
    names = ProtectedList.new(pepper="s3cret")
    names.add("Jan Peeters", "officer 4711")
    names.add("Anne-Marie Dupont", "officer 0815")
    names.add("@kommissar_k", "handle 12")
    return names


def names_in(text: str, names: ProtectedList) -> list[tuple[str, str]]:
    hits = ProtectedDetector(names).detect(Document(text))
    return [(text[f.spans[0][0] : f.spans[0][1]], f.explanation) for f in hits]


def test_names_are_found_with_the_folding_of_rules(protected: ProtectedList) -> None:
    text = "Agent JAN PEETERS en anne marie DUPONT, volg @kommissar_k"
    assert names_in(text, protected) == [
        ("JAN PEETERS", "names protected person 'officer 4711'"),
        ("anne marie DUPONT", "names protected person 'officer 0815'"),
        ("@kommissar_k", "names protected person 'handle 12'"),
    ]


def test_part_of_a_name_is_not_the_name(protected: ProtectedList) -> None:
    assert names_in("meneer Peeters en Jan Janssens", protected) == []


def test_the_file_never_holds_a_name_and_round_trips(
    protected: ProtectedList, tmp_path: Path
) -> None:
    path = tmp_path / "protected.json"
    protected.save(path)
    raw = path.read_text("utf-8").lower()
    for word in ("jan", "peeters", "anne", "dupont", "kommissar"):
        assert word not in raw
    assert path.stat().st_mode & 0o077 == 0
    again = ProtectedList.load(path, pepper="s3cret")
    assert names_in("Jan Peeters", again) == [
        ("Jan Peeters", "names protected person 'officer 4711'")
    ]


def test_a_wrong_pepper_matches_nothing(protected: ProtectedList, tmp_path: Path) -> None:
    path = tmp_path / "protected.json"
    protected.save(path)
    assert names_in("Jan Peeters", ProtectedList.load(path, pepper="guess")) == []


def test_removing_by_label(protected: ProtectedList) -> None:
    assert protected.remove("officer 4711") == 1
    assert names_in("Jan Peeters", protected) == []
    assert len(protected) == 2


def test_bad_names_and_bad_files_are_refused(tmp_path: Path) -> None:
    names = ProtectedList.new()
    with pytest.raises(ValueError, match="at least one word"):
        names.add("  !!! ", "x")
    with pytest.raises(ValueError, match="needs a label"):
        names.add("Jan Peeters", " ")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": 1, "salt": "00", "entries": [{"hash": "zz"}]}))
    with pytest.raises(ValueError, match=r"bad.json: entry 1"):
        ProtectedList.load(bad)
    with pytest.raises(ValueError, match=r"missing\.json"):
        ProtectedList.load(tmp_path / "missing.json")


def doxx(text: str, names: ProtectedList) -> list[str]:
    doc = Document(text)
    found = ProtectedDetector(names).detect(doc) + PersonalDataDetector().detect(doc)
    return [f.explanation for f in doxxing(doc, found)]


def test_doxxing_is_a_name_with_something_that_locates_the_person(
    protected: ProtectedList,
) -> None:
    assert doxx("Jan Peeters woont Wetstraat 16 bus 3", protected) == [
        "names protected person 'officer 4711' together with an address, where they live or work"
    ]
    assert doxx("Jan Peeters? Hij werkt in Antwerpen", protected) == [
        "names protected person 'officer 4711' together with where they live or work, a place"
    ]
    assert doxx("Jan Peeters is een goede agent", protected) == []
    assert doxx("Wetstraat 16 in Antwerpen", protected) == []
