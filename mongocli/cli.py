"""The root command: global options, commands loaded lazily from mongocli/commands/, errors to exit codes.

Start-up (issue 12): this module imports click and light modules only. A command's family
module is imported when the command runs; the driver, bson and rich when the command needs
them. `mongocli --version` therefore loads click and nothing else of weight.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from mongocli import __version__
from mongocli import errors as cli_errors
from mongocli.commands import Deferred, all_commands
from mongocli.commands._app import App
from mongocli.output.environment import EJSON_MODES, FORMATS, Environment
from mongocli.service.options import DEFAULT_URI, ConnectOptions, uri_from_host

EPILOG = ("Exit codes (every command, the shell included): 0 ok, 1 failure, 2 usage (bad option, URI, "
          "setting or JSON), 3 no reachable/suitable server, 4 authentication failed, 5 the server "
          "returned an error, 6 --timeout-ms ran out, 130 interrupted. Config file: $XDG_CONFIG_HOME/mongocli/config.toml.")


class RootGroup(click.Group):
    """Finds commands in mongocli/commands/ on demand, and turns every error into one message
    and an exit code (errors.py), in one place."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(all_commands())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = all_commands().get(name)
        return command.load() if isinstance(command, Deferred) else command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Deferred commands show their registered one-liner: listing them must not import them.
        rows = []
        commands = sorted(all_commands().items())
        limit = formatter.width - 6 - max(len(name) for name, _command in commands)
        for name, command in commands:
            if isinstance(command, Deferred):
                rows.append((name, command.short_help))
            elif not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:
            # The reader went away (`mongocli monitor | head`): stop quietly, as Unix tools do.
            _silence_stdout()
            ctx.exit(cli_errors.EXIT_OK)
        except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - every error ends here, once
            app = ctx.obj if isinstance(ctx.obj, App) else None
            debug = app.debug if app else bool(ctx.params.get("debug"))
            stream = app.env.stderr if app else sys.stderr
            secrets = app.options.secrets() if app else ()
            ctx.exit(cli_errors.report(exc, debug=debug, stream=stream, secrets=secrets))


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # not a real file descriptor (a test runner's buffer): nothing to flush


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(__version__, prog_name="mongocli")
@click.option("--uri", envvar="MONGODB_URI", default=None, show_envvar=True,
              help=f"Connection string (mongodb:// or mongodb+srv://). Default: the config file's, "
                   f"else {DEFAULT_URI}.")
@click.option("--profile", metavar="NAME", default=None, help="Use the URI of [profiles.NAME] in the config file.")
@click.option("--host", metavar="HOST[:PORT][,...]", default=None,
              help="Instead of --uri: host(s), or SETNAME/host1,host2 (as mongosh).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="With --host: the port.")
@click.option("-u", "--username", default=None, help="User name (goes into the URI, encoded).")
@click.option("-p", "--password", default=None, prompt="Password", prompt_required=False, hide_input=True,
              help="Password; given without a value it is prompted for, not echoed.")
@click.option("--authenticationDatabase", "auth_source", metavar="DB", default=None,
              help="authSource: the database holding the user.")
@click.option("--authenticationMechanism", "auth_mechanism", default=None,
              type=click.Choice(["SCRAM-SHA-1", "SCRAM-SHA-256", "PLAIN", "MONGODB-X509"]),
              help="authMechanism.")
@click.option("--tls", "tls", is_flag=True, default=None, help="Use TLS.")
@click.option("--tlsCAFile", "tls_ca_file", metavar="PEM", default=None, help="CA certificates to trust.")
@click.option("--tlsCertificateKeyFile", "tls_certificate_key_file", metavar="PEM", default=None,
              help="Client certificate and key (X.509 authentication).")
@click.option("--tlsAllowInvalidCertificates", "tls_allow_invalid_certificates", is_flag=True, default=None,
              help="Do not check the server's certificate (insecure; a warning is printed).")
@click.option("--apiVersion", "api_version", type=click.Choice(["1"]), default=None,
              help="Declare this Stable API version on every command (as mongosh).")
@click.option("--apiStrict", "api_strict", is_flag=True, default=None,
              help="With --apiVersion: the server refuses commands outside that API version.")
@click.option("--apiDeprecationErrors", "api_deprecation_errors", is_flag=True, default=None,
              help="With --apiVersion: the server refuses what that API version deprecates.")
@click.option("--connect-timeout-ms", type=click.IntRange(0), default=None,
              help="connectTimeoutMS: limit for each TCP/TLS connect and monitoring check.")
@click.option("--server-selection-timeout-ms", type=click.IntRange(0), default=None,
              help="serverSelectionTimeoutMS: how long to wait for a suitable server (implies --wait).")
@click.option("--timeout-ms", type=click.IntRange(0), default=None,
              help="timeoutMS: limit for each operation as a whole (selection, retries, the server's work; 0 = none).")
@click.option("--wait", is_flag=True,
              help="Wait for servers that refuse or do not resolve yet (default: fail at once).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Output format; auto (default) is pretty on a terminal, JSON (or log lines) on a pipe.")
@click.option("--ejson", type=click.Choice(EJSON_MODES), default=None,
              help="Extended JSON mode for json/jsonl output (default relaxed).")
@click.option("--trace", is_flag=True, help="Log every command sent and reply received on stderr (secrets redacted).")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, uri: str | None, profile: str | None, host: str | None, port: int | None,
        fmt: str | None, ejson: str | None, trace: bool, debug: bool, **connect: Any) -> None:
    """mongocli: a MongoDB shell and diagnostics tool for the terminal."""
    from mongocli.service.config import config_path, load_config
    config = load_config(config_path())
    environ = dict(os.environ)
    if config.color is False:
        environ["NO_COLOR"] = "1"
    env = Environment.from_system(environ=environ)
    ctx.obj = App(env=env, options=ConnectOptions(uri=DEFAULT_URI), fmt=fmt or config.format or "auto",
                  ejson=ejson or config.ejson or "relaxed", debug=debug, trace=trace,
                  editing_mode=config.editing_mode or "emacs")
    if host is not None and uri is not None:
        if ctx.get_parameter_source("uri") is not click.core.ParameterSource.ENVIRONMENT:
            raise click.UsageError("give either --uri or --host, not both")
        uri = None  # --host on the command line wins over MONGODB_URI in the environment
    if port is not None and host is None:
        host = "127.0.0.1"
    if host is not None:
        uri = uri_from_host(host, port)
    elif uri is None:
        uri = config.profile_uri(profile) if profile else (config.uri or DEFAULT_URI)
    # An absent flag is None ("keep the URI's value"), not False (which would override tls=true).
    flags = {k: (None if v is False and k != "wait" else v) for k, v in connect.items()}
    ctx.obj.options = ConnectOptions(uri=uri, **flags)


def main() -> None:
    """Console entry point (`mongocli`, `python -m mongocli`)."""
    cli(obj=None, prog_name="mongocli")
