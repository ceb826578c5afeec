from __future__ import annotations

import pytest

from moatcode.errors import UsageError
from moatcode.policy.spec import parse_action_spec
from moatcode.types import Action


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("Bash(git push origin main)", Action("bash", "bash", command="git push origin main")),
        ("Bash(echo 'a (b)')", Action("bash", "bash", command="echo 'a (b)'")),
        ("Read(src/app.py)", Action("read_file", "read", ("src/app.py",))),
        ("Edit(~/.bashrc)", Action("edit_file", "edit", ("~/.bashrc",))),
        ("Write(out.txt)", Action("write_file", "edit", ("out.txt",))),
        ("grep( src )", Action("grep", "read", ("src",))),
        ("bash(ls\nrm x)", Action("bash", "bash", command="ls\nrm x")),
    ],
)
def test_parse_action_spec(text: str, action: Action) -> None:
    assert parse_action_spec(text) == action


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("git push", "Cannot read the action 'git push'; write it as Bash(git status), "
                     "Read(src/app.py) or Edit(src/app.py)."),
        ("Bash", "Cannot read the action 'Bash'; write it as Bash(git status), "
                 "Read(src/app.py) or Edit(src/app.py)."),
        ("Bash()", "The action 'Bash()' names nothing to check; put a command or path in ()."),
        ("WebFetch(x)", "Unknown tool 'WebFetch' in 'WebFetch(x)'; use one of Read, Edit, Bash, "
                        "read_file, grep, glob, list_files, write_file, edit_file, bash."),
    ],
)
def test_malformed_action_spec(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_action_spec(text)
    assert str(caught.value) == message
