"""`mongocli sandbox`: run a simulated deployment in the foreground, URI on the first stdout line."""

from __future__ import annotations

import asyncio
import signal
import sys

import click

from mongocli.sandbox.deployment import TOPOLOGIES, Deployment, SandboxError, _server_ssl_context
from mongocli.sandbox.versions import DEFAULT as DEFAULT_VERSION, UnsupportedVersion, server_version as parse_version


def _parse_auth(value: str | None) -> tuple[str, str] | None:
    if value is None:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise click.BadParameter("expected USER:PASSWORD, both non-empty", param_hint="--auth")
    return user, password


def _parse_version(value: str) -> str:
    try:
        return parse_version(value).text
    except UnsupportedVersion as exc:
        raise click.BadParameter(str(exc), param_hint="--server-version") from None


@click.command("sandbox")
@click.option("--topology", type=click.Choice(TOPOLOGIES), default="standalone", show_default=True,
              help="Deployment shape to simulate.")
@click.option("--members", type=click.IntRange(1, 50), default=None,
              help="Number of members (replset default 3, sharded: number of mongos, default 1).")
@click.option("--port", type=click.IntRange(0, 65535), default=27017, show_default=True,
              help="First port; members use P, P+1, ...; 0 picks free ports.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--auth", "auth", metavar="USER:PASSWORD", default=None,
              help="Require SCRAM authentication with this admin user.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), default=None,
              help="PEM certificate (chain) for TLS.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), default=None,
              help="PEM private key for TLS (omit if it is inside --tls-cert).")
@click.option("--election-delay-ms", type=click.IntRange(0, 600_000), default=500, show_default=True,
              help="Time from losing a primary to electing a new one.")
@click.option("--arbiter", is_flag=True, help="Make the last replica-set member an arbiter.")
@click.option("--replset-name", default="rs0", show_default=True, help="Replica set name.")
@click.option("--replication-lag-ms", type=click.IntRange(0, 3_600_000), default=0, show_default=True,
              help="Secondaries apply each write this long after the primary (0: at once).")
@click.option("--server-version", callback=lambda ctx, param, value: _parse_version(value), default=DEFAULT_VERSION,
              show_default=True, help="The MongoDB release to present: its buildInfo version, hello "
                                      "maxWireVersion and the features it has.")
@click.option("--quiet", is_flag=True, help="Print only the URI (no event log on stderr).")
def sandbox_command(topology: str, members: int | None, port: int, host: str, auth: str | None,
                    tls_cert: str | None, tls_key: str | None, election_delay_ms: int, arbiter: bool,
                    replset_name: str, replication_lag_ms: int, server_version: str, quiet: bool) -> None:
    """Run a simulated MongoDB deployment on this machine until Ctrl-C.

    The first line printed is the connection string. Elections, kills and restarts are
    logged to stderr. Data lives in memory only.
    """
    credentials = _parse_auth(auth)
    try:
        deployment = Deployment(
            topology, members, host=host, port=port, users=dict([credentials]) if credentials else None,
            ssl_context=_server_ssl_context(tls_cert, tls_key), election_delay_ms=election_delay_ms,
            arbiter=arbiter, replset_name=replset_name, replication_lag_ms=replication_lag_ms,
            server_version=server_version,
        )
        asyncio.run(_serve(deployment, credentials, tls_cert, quiet))
    except SandboxError as exc:
        raise click.ClickException(str(exc)) from exc


async def _serve(deployment: Deployment, credentials: tuple[str, str] | None, tls_cert: str | None,
                 quiet: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if not quiet:
        deployment.add_listener(lambda message: click.echo(f"sandbox: {message}", err=True))
    await deployment.start()
    user, password = credentials if credentials else (None, None)
    click.echo(deployment.uri(user, password, tls_cert))
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await deployment.close()
