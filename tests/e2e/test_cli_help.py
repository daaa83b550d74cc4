"""The installed command answers --help and --version."""

from click.testing import CliRunner

from mongocli.cli import cli


def test_help_lists_usage() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert "0.1.0" in result.output
