"""The tag list's answers and the local list updates, as plain Python."""

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.ev_charging.csms.authorization import IdTag, TagList, UnknownTagPolicy
from custom_components.ev_charging.csms.local_list import (
    DIFFERENTIAL,
    FULL,
    SentList,
    apply_update,
    plan_updates,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=30)

TAGS = TagList.of(
    [
        IdTag("Resident-1", name="Unit 1", expires=LATER, parent="UNIT-1"),
        IdTag("UNIT-1"),
        IdTag("LOST", blocked=True),
        IdTag("OLD", expires=NOW - timedelta(days=1)),
        IdTag("GARAGE-ONLY", chargers=frozenset({"GARAGE"})),
        IdTag("CHILD", parent="BLOCKED-UNIT"),
        IdTag("BLOCKED-UNIT", blocked=True),
    ],
    always_accepted=["HA-1234"],
    free_charging=["HOME"],
)


@pytest.mark.parametrize(
    ("id_tag", "charger", "expected"),
    [
        (
            "Resident-1",
            "GARAGE",
            {"status": "Accepted", "expiry_date": LATER.isoformat(), "parent_id_tag": "UNIT-1"},
        ),
        ("resident-1", "GARAGE", {"status": "Accepted"}),  # case-insensitive, as OCPP says
        ("LOST", "GARAGE", {"status": "Blocked"}),
        ("OLD", "GARAGE", {"status": "Expired"}),
        ("GARAGE-ONLY", "GARAGE", {"status": "Accepted"}),
        ("GARAGE-ONLY", "STREET", {"status": "Invalid"}),
        ("CHILD", "GARAGE", {"status": "Blocked"}),  # a blocked parent holds back its tags
        ("STRANGER", "GARAGE", {"status": "Invalid"}),
        ("HA-1234", "GARAGE", {"status": "Accepted"}),  # Home Assistant's own tag
        ("STRANGER", "HOME", {"status": "Accepted"}),  # free charging
        ("LOST", "HOME", {"status": "Accepted"}),
    ],
)
def test_id_tag_info(id_tag: str, charger: str, expected: dict[str, str]) -> None:
    """Each tag gets the answer its settings call for; the status is what matters most."""
    info = TAGS.id_tag_info(id_tag, charger, NOW)
    assert info["status"] == expected["status"]
    for key, value in expected.items():
        assert info[key] == value


def test_unknown_tags_may_be_accepted() -> None:
    """With the accept policy a stranger may charge; blocked tags are still refused."""
    tags = TagList.of([IdTag("LOST", blocked=True)], unknown_tags=UnknownTagPolicy.ACCEPT)
    assert tags.id_tag_info("STRANGER", "GARAGE", NOW)["status"] == "Accepted"
    assert tags.id_tag_info("LOST", "GARAGE", NOW)["status"] == "Blocked"


def test_local_list_leaves_out_tags_not_allowed_on_the_charger() -> None:
    """A charger's list has the tags it may accept, each with its status now."""
    street = TAGS.local_list("STREET", NOW)
    assert "GARAGE-ONLY" not in street
    assert street["LOST"] == {"status": "Blocked"}
    assert street["OLD"]["status"] == "Expired"
    assert "GARAGE-ONLY" in TAGS.local_list("GARAGE", NOW)


WANTED = {"A": {"status": "Accepted"}, "B": {"status": "Accepted"}, "C": {"status": "Blocked"}}


def test_first_update_is_full() -> None:
    """A charger we never sent a list to gets all of it, one version above its own."""
    [update] = plan_updates(None, 0, WANTED)
    assert (update.update_type, update.version) == (FULL, 1)
    assert [entry["id_tag"] for entry in update.entries] == ["A", "B", "C"]
    assert apply_update({}, update) == WANTED


def test_changes_go_out_as_differential_updates() -> None:
    """Only what changed is sent: removals without idTagInfo, changes with it."""
    sent = SentList(4, WANTED)
    wanted = {"A": {"status": "Blocked"}, "B": {"status": "Accepted"}, "D": {"status": "Accepted"}}
    [update] = plan_updates(sent, 4, wanted)
    assert (update.update_type, update.version) == (DIFFERENTIAL, 5)
    assert update.entries == [
        {"id_tag": "C"},
        {"id_tag": "A", "id_tag_info": {"status": "Blocked"}},
        {"id_tag": "D", "id_tag_info": {"status": "Accepted"}},
    ]
    assert apply_update(sent.entries, update) == wanted
    assert plan_updates(SentList(5, wanted), 5, wanted) == []


def test_a_charger_that_lost_its_list_gets_it_whole_again() -> None:
    """A charger reporting another version than we sent (reset, replaced) gets a Full list."""
    [update] = plan_updates(SentList(4, WANTED), 0, WANTED)
    assert (update.update_type, update.version) == (FULL, 5)


def test_long_lists_are_sent_in_parts() -> None:
    """SendLocalListMaxLength: a Full first part, then Differential parts, versions rising."""
    updates = plan_updates(None, 7, WANTED, max_per_message=2)
    assert [(u.update_type, u.version, len(u.entries)) for u in updates] == [
        (FULL, 8, 2),
        (DIFFERENTIAL, 9, 1),
    ]
    held: dict[str, dict[str, str]] = {}
    for update in updates:
        held = apply_update(held, update)
    assert held == WANTED


def test_emptied_list_is_cleared_and_unsupported_lists_are_left_alone() -> None:
    """An empty wanted list clears what the charger holds; version -1 means no local list."""
    [update] = plan_updates(SentList(3, WANTED), 3, {})
    assert update.update_type == DIFFERENTIAL
    assert apply_update(WANTED, update) == {}
    [update] = plan_updates(None, 9, {})
    assert (update.update_type, update.entries) == (FULL, [])
    assert plan_updates(None, 0, {}) == []
    assert plan_updates(None, -1, WANTED) == []
