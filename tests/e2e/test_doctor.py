"""`moat doctor`: a table with a fix for each failure, and an exit code that says so."""

from __future__ import annotations

from tests.e2e.conftest import Project
from tests.fake_server import Call, FakeModelServer, Reply


def test_all_good_with_a_server(project: Project) -> None:
    with FakeModelServer(context_window=16_384) as fake:
        fake.add(Reply(tool_calls=[Call("ping", {})]))
        done = project.run("doctor", base_url=fake.url)
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert any(line.startswith("ok    model endpoint") for line in lines)
    assert any(line.startswith("ok    models") and "fake-model" in line for line in lines)
    assert any(line.startswith("ok    context window") and "16384 tokens" in line
               for line in lines)
    assert any(line.startswith("ok    tool calling") and "native" in line for line in lines)
    assert any(line.startswith("ok    sandbox") for line in lines)
    assert any(line.startswith("ok    audit store") for line in lines)


def test_a_refused_key_is_a_failure_with_a_fix(project: Project) -> None:
    with FakeModelServer(api_key="right") as fake:
        done = project.run("doctor", "--no-probe", base_url=fake.url)
    assert done.returncode == 1
    assert "FAIL  model endpoint" in done.stdout
    assert "fix: start the server, or fix MOAT_BASE_URL / --base-url" in done.stdout


def test_unknown_model(project: Project) -> None:
    with FakeModelServer(models=("a", "b")) as fake:
        done = project.run("doctor", "--no-probe", "--cwd", str(project.repo),
                           base_url=fake.url)
    assert done.returncode == 1
    assert "several served (a, b) and none chosen" in done.stdout


def test_a_broken_policy_file(project: Project) -> None:
    (project.home / ".config" / "moat").mkdir(parents=True)
    (project.home / ".config" / "moat" / "config.toml").write_text(
        '[permissions]\ndeny = ["Bash(rm -rf"]\n')
    done = project.run("doctor", "--no-probe")
    assert done.returncode == 1
    assert "FAIL  policy rules" in done.stdout
    assert "Bad permission rule 'Bash(rm -rf'" in done.stdout
