"""`kassa operator create` and `kassa operator list`: a strong password made and printed once
(or read from standard input), the role checked, errors as one readable line."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from dashboard.world import browser, sign_in
from kassa.cli import app
from kassa.config import Kassa
from kassa.services.organizations import NewOrganization

runner = CliRunner()


def _env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {"KASSA_DATA_DIR": str(tmp_path / "cli"), "KASSA_DATABASE_URL": database_url,
            "KASSA_SECRET_KEY": "test-pepper"}


def _lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def test_create_prints_a_strong_password_once_that_signs_in(
        tmp_path: Path, database_url: str, kassa: Kassa, org: NewOrganization) -> None:
    result = runner.invoke(app, ["operator", "create", "Fin@Example.com", "--role", "finance"],
                           env=_env(tmp_path, database_url))
    assert result.exit_code == 0, result.output
    lines = _lines(result.output)
    assert lines[0].startswith(f"Operator fin@example.com (finance) of {org.organization.id}: op_")
    assert lines[1] == "Password (store it now; it is not shown again):"
    password = lines[2]
    assert len(password) >= 24
    assert sign_in(browser(kassa), "fin@example.com", password).status_code == 303
    listed = runner.invoke(app, ["operator", "list"], env=_env(tmp_path, database_url))
    assert listed.exit_code == 0 and "fin@example.com" in listed.output
    assert "finance" in listed.output and "active" in listed.output
    assert password not in listed.output


def test_create_reads_the_password_from_stdin(
        tmp_path: Path, database_url: str, kassa: Kassa, org: NewOrganization) -> None:
    result = runner.invoke(app, ["operator", "create", "ops@example.com", "--role", "support",
                                 "--password-stdin", "--org", org.organization.id],
                           input="a long enough secret\n", env=_env(tmp_path, database_url))
    assert result.exit_code == 0, result.output
    assert "a long enough secret" not in result.output and "Password" not in result.output
    assert sign_in(browser(kassa), "ops@example.com", "a long enough secret"
                   ).status_code == 303


def test_bad_input_is_one_readable_line(tmp_path: Path, database_url: str, kassa: Kassa,
                                        org: NewOrganization,
                                        other_org: NewOrganization) -> None:
    env = _env(tmp_path, database_url)
    for args, stdin, message in (
            (["x@example.com", "--role", "owner", "--org", org.organization.id], None,
             "error: role is one of admin, finance, support. (role)"),
            (["not-an-email", "--role", "admin", "--org", org.organization.id], None,
             "error: Enter a valid e-mail address. (email)"),
            (["x@example.com", "--role", "admin", "--password-stdin", "--org",
              org.organization.id], "short\n",
             "error: A password has 12 to 1000 characters. (password)"),
            (["x@example.com", "--role", "admin"], None,
             "error: Name the organization: --org org_... (there is not exactly one). (org)")):
        result = runner.invoke(app, ["operator", "create", *args], input=stdin, env=env)
        assert result.exit_code == 1, result.output
        assert _lines(result.output) == [message]
    ok = runner.invoke(app, ["operator", "create", "x@example.com", "--role", "admin",
                             "--org", org.organization.id], env=env)
    assert ok.exit_code == 0, ok.output
    twice = runner.invoke(app, ["operator", "create", "X@example.com", "--role", "support",
                                "--org", other_org.organization.id], env=env)
    assert _lines(twice.output) == ["error: An operator with this e-mail already exists. "
                                    "(email)"]
    listed = runner.invoke(app, ["operator", "list", "--org", other_org.organization.id],
                           env=env)
    assert listed.exit_code == 0 and "x@example.com" not in listed.output
