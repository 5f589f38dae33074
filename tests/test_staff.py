from __future__ import annotations

import pytest

from bot.ingest.indexer import drive
from bot.web.staff import Staff, StaffError, safe_name


@pytest.fixture
def staff(indexed_bot):
    indexed_bot.settings.staff_password = "correct horse"
    return Staff(indexed_bot)


@pytest.mark.parametrize("hostile,expected", [
    ("../../x.md", "x.md"),
    ("..\\..\\windows\\evil.md", "evil.md"),
    ("/etc/passwd.txt", "passwd.txt"),
    ("  Café notes (final).MD", "Cafe-notes-final.md"),
    ("....hidden.md", "hidden.md"),
])
def test_hostile_names_are_made_safe(hostile, expected):
    assert safe_name(hostile) == expected


@pytest.mark.parametrize("bad", ["script.sh", "noextension", ".md", "x.exe"])
def test_unsupported_names_are_refused(bad):
    with pytest.raises(StaffError):
        safe_name(bad)


def test_upload_never_writes_outside_the_documents_folder(staff, docs, tmp_path):
    message = staff.upload("correct horse", "../../x.md", b"## Keys\n\nKeys stay inside.\n",
                           "guidance")
    assert (docs / "guidance" / "x.md").exists()
    assert not (tmp_path / "x.md").exists() and not (docs.parent / "x.md").exists()
    assert "Added guidance/x.md" in message


def test_replacing_needs_confirmation(staff, docs):
    with pytest.raises(StaffError) as err:
        staff.upload("correct horse", "phones.md", b"new text for phones", "guidance")
    assert "Replace" in err.value.message
    staff.upload("correct horse", "phones.md", b"## Phones\n\nNew rules.\n", "guidance",
                 replace=True)
    assert (docs / "guidance" / "phones.md").read_text() == "## Phones\n\nNew rules.\n"


@pytest.mark.parametrize("password", [None, "", "wrong", "correct horse "])
def test_every_action_checks_the_password(staff, password):
    actions = [
        lambda: staff.upload(password, "a.md", b"text here", "guidance"),
        lambda: staff.remove(password, "guidance/phones.md"),
        lambda: drive(staff.index(password)),
        lambda: drive(staff.index(password, dry_run=True)),
        lambda: staff.rollback(password),
        lambda: staff.status(password),
        lambda: staff.documents(password),
    ]
    for action in actions:
        with pytest.raises(StaffError) as err:
            action()
        assert "password" in err.value.message


def test_staff_area_is_off_without_a_password(indexed_bot):
    staff = Staff(indexed_bot)
    assert not staff.enabled
    with pytest.raises(StaffError) as err:
        staff.status("anything")
    assert "BOT_STAFF_PASSWORD" in err.value.message


def test_remove_then_reindex_forgets_the_document(staff, indexed_bot):
    docs = indexed_bot.settings.docs_dir
    phrasings = docs / "guidance" / "notes.txt.also-asked.yaml"
    phrasings.write_text("Notes?: [what do the notes say]\n", encoding="utf-8")
    staff.remove("correct horse", "guidance/notes.txt")
    assert not phrasings.exists()  # its other phrasings go with it
    report = drive(staff.index("correct horse"))
    assert report.removed == 1
    assert "guidance/notes.txt" not in indexed_bot.search_index().sources()
    with pytest.raises(StaffError):
        staff.remove("correct horse", "../outside.md")


def test_upload_then_reindex_makes_it_answerable(staff, indexed_bot):
    staff.upload("correct horse", "kiln.md", b"---\ntitle: Kilns\n---\n## Using a kiln\n\n"
                 b"Ceramics kilns in prison workshops need a fire risk assessment first.\n",
                 "guidance")
    report = drive(staff.index("correct horse"))
    assert report.added == 1
    answer = indexed_bot.ask("Do ceramics kilns in prison workshops need a fire risk assessment?")
    assert any(c.source == "guidance/kiln.md" for c in answer.citations)
