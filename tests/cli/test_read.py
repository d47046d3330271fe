import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from veille.cli import main
from veille.store import Store


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.delenv("VEILLE_CONFIG", raising=False)
        result = CliRunner().invoke(main, ["demo", "--rate", "0", "--no-web", "--quiet"])
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture
def in_demo(demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(demo_db)
    monkeypatch.delenv("VEILLE_CONFIG", raising=False)
    return demo_db


def invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def test_conversations_lists_the_flagged_threads(in_demo: Path) -> None:
    rows = [json.loads(line) for line in invoke("conversations", "--json").splitlines()]
    assert len(rows) >= 8
    rules = {rule for row in rows for rule in row["rules"]}
    assert {"fr.menace-police", "nl.adres-agent", "de.vermisst", "en.leak"} <= rules
    table = invoke("conversations", "--limit", "3")
    assert "3 flagged conversations" in table


def test_show_prints_the_thread_with_its_matches(in_demo: Path) -> None:
    rows = [json.loads(line) for line in invoke("conversations", "--json").splitlines()]
    threat = next(r for r in rows if "fr.menace-police" in r["rules"])
    by_id = invoke("show", str(threat["id"]))
    by_key = invoke("show", f"demo:{threat['root']}")
    assert by_id == by_key
    assert "commissariat" in by_id
    assert "fr.menace-police" in by_id
    assert by_id.count("@") >= 4  # the threat and its three replies


def test_show_unknown_conversation_is_a_clear_error(in_demo: Path) -> None:
    result = CliRunner().invoke(main, ["show", "999999"])
    assert result.exit_code != 0
    assert "veille conversations" in result.output


def test_search_uses_the_rule_language(in_demo: Path) -> None:
    lines = invoke("search", "vermisst OR vermisste", "--json").splitlines()
    assert lines
    assert all("ermisst" in json.loads(line)["post"]["text"] for line in lines)
    bad = CliRunner().invoke(main, ["search", "police AND"])
    assert bad.exit_code != 0
    assert "AND needs something on its right" in bad.output
    assert "^^^" in bad.output


def test_backfill_records_new_rules_once(in_demo: Path, tmp_path: Path) -> None:
    rules = tmp_path / "new.toml"
    rules.write_text('[[rule]]\nid = "new.bike"\nseverity = "low"\nquery = "fiets OR bike"\n')
    first = invoke("backfill", "--rules", str(rules), "--since", "30d")
    assert "new.bike" in first
    with Store.open(f"sqlite:///{in_demo / 'veille.db'}") as store:
        found = store.search("fiets OR bike", limit=10_000)
        matches = store.counts()["matches"]
    recorded = [m for hit in found.hits for m in hit.post.matches if m.match.rule == "new.bike"]
    assert recorded
    assert all(m.match.backfilled for m in recorded)
    assert len({h.post.id for h in found.hits}) == len(recorded)
    invoke("backfill", "--rules", str(rules), "--since", "30d")
    with Store.open(f"sqlite:///{in_demo / 'veille.db'}") as store:
        assert store.counts()["matches"] == matches  # a second run records nothing new


def test_durations_are_checked(in_demo: Path) -> None:
    result = CliRunner().invoke(main, ["conversations", "--since", "yesterday"])
    assert result.exit_code != 0
    assert "90m, 12h, 30d, 2w" in result.output
