"""Shell history: XDG location, a private file in a created directory, credential lines left out."""

from __future__ import annotations

import stat

import pytest

from mongocli.shell.history import PrivateFileHistory, has_credentials, history_path


def test_history_path_follows_xdg():
    assert history_path({"XDG_DATA_HOME": "/x/data"}) == "/x/data/mongocli/history"
    assert history_path({"HOME": "/h"}).endswith("/.local/share/mongocli/history")


@pytest.mark.parametrize("line", [
    "db.createUser({user: 'a', pwd: 'secret', roles: []})",
    "db.updateUser('a', {pwd: 'x'})",
    "db.auth('a', 'b')",
    "passwordPrompt()",
    "var m = new Mongo('mongodb://u:p@host/db')",
    "connect('mongodb+srv://user:pw@cluster.example.net/')",
])
def test_credential_lines_are_recognised(line):
    assert has_credentials(line)


@pytest.mark.parametrize("line", ["db.users.find({auth: true})", "db.c.insertOne({url: 'mongodb://host/db'})",
                                  "print('authenticated')"])
def test_ordinary_lines_are_kept(line):
    assert not has_credentials(line)


def test_file_is_private_and_directory_created(tmp_path):
    path = tmp_path / "missing" / "mongocli" / "history"
    history = PrivateFileHistory(str(path))
    history.append_string("db.c.find()")
    history.append_string("db.createUser({user: 'u', pwd: 'hunter2', roles: []})")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    assert "db.c.find()" in text and "hunter2" not in text
