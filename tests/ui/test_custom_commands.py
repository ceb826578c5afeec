"""Markdown files in .moat/commands and .claude/commands become slash commands."""

from __future__ import annotations

from pathlib import Path

from moatcode.ui.custom_commands import CustomCommand, load_custom_commands, parse_command_file


def test_both_folders_are_read_and_moat_wins(tmp_path: Path) -> None:
    moat = tmp_path / ".moat" / "commands"
    claude = tmp_path / ".claude" / "commands"
    (claude / "frontend").mkdir(parents=True)
    moat.mkdir(parents=True)
    (moat / "review.md").write_text("Review $ARGUMENTS carefully.\n")
    (claude / "review.md").write_text("Claude's review.\n")
    (claude / "frontend" / "component.md").write_text(
        "---\ndescription: \"Make a component\"\nallowed-tools: Bash(npm *)\n---\n"
        "# Component\nCreate the $ARGUMENTS component.\n")
    (claude / "notes.txt").write_text("not a command")
    commands = load_custom_commands(tmp_path)
    assert commands == {
        "frontend:component": CustomCommand(
            "frontend:component", "Make a component",
            "# Component\nCreate the $ARGUMENTS component.", claude / "frontend" / "component.md"),
        "review": CustomCommand("review", "Review $ARGUMENTS carefully.",
                                "Review $ARGUMENTS carefully.", moat / "review.md"),
    }
    assert commands["review"].expand("src/app.py") == "Review src/app.py carefully."


def test_arguments_are_appended_when_the_file_has_no_placeholder() -> None:
    command = CustomCommand("lint", "", "Fix the lint errors.", Path("lint.md"))
    assert command.expand("") == "Fix the lint errors."
    assert command.expand("in src/") == "Fix the lint errors.\n\nin src/"


def test_the_description_is_the_first_line_when_none_is_given() -> None:
    assert parse_command_file("\n## Deploy the staging build\nthen check it\n") == (
        "Deploy the staging build", "## Deploy the staging build\nthen check it")
    assert parse_command_file("---\nunclosed front matter\n") == (
        "---", "---\nunclosed front matter")
    assert load_custom_commands(Path("/nonexistent")) == {}
