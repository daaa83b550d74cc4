"""Build and check the auth Credential a connection string configures (auth spec, MongoCredential)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from driver.errors import ConfigurationError
from driver.uri import ConnectionString

EXTERNAL = "$external"

# auth spec, per mechanism "MongoCredential Properties": source MUST be $external for these.
_EXTERNAL_ONLY = ("GSSAPI", "MONGODB-X509", "MONGODB-AWS", "MONGODB-OIDC")

# auth spec, "GSSAPI" / "MONGODB-AWS" / "MONGODB-OIDC": the mechanism properties each accepts.
_ALLOWED_PROPERTIES: dict[str, frozenset[str]] = {
    "GSSAPI": frozenset({"SERVICE_NAME", "CANONICALIZE_HOST_NAME", "SERVICE_REALM", "SERVICE_HOST"}),
    "MONGODB-AWS": frozenset({"AWS_SESSION_TOKEN"}),
    "MONGODB-OIDC": frozenset({"ENVIRONMENT", "TOKEN_RESOURCE", "OIDC_CALLBACK",
                               "OIDC_HUMAN_CALLBACK", "ALLOWED_HOSTS"}),
}
_CANONICALIZE_VALUES = ("none", "forward", "forwardAndReverse", "true", "false")
_OIDC_ENVIRONMENTS = ("test", "azure", "gcp", "k8s")


@dataclass(frozen=True)
class Credential:
    """What to authenticate with; mechanism None means negotiate (auth spec, "Default Authentication Methods")."""

    username: str | None
    password: str | None
    source: str
    mechanism: str | None
    mechanism_properties: Mapping[str, Any] | None

    def __repr__(self) -> str:  # never print the password
        hidden = None if self.password is None else "***"
        return (f"Credential(username={self.username!r}, password={hidden!r}, source={self.source!r}, "
                f"mechanism={self.mechanism!r}, mechanism_properties={self.mechanism_properties!r})")


def _error(mechanism: str | None, message: str) -> ConfigurationError:
    return ConfigurationError(f"{mechanism or 'default'} authentication: {message}")


def credential_from_uri(cs: ConnectionString) -> Credential | None:
    """The credential a connection string configures, or None if it configures no authentication.

    auth spec, "Credential delimiter in URI implies authentication": a userinfo '@' (even
    empty) or an authMechanism asks for auth; a database or authSource alone does not.
    Raises ConfigurationError when a mechanism's requirements are not met.
    """
    opts = cs.options
    mechanism = opts.get("authMechanism")
    if cs.username is None and mechanism is None:
        return None
    props = {k.upper(): v for k, v in opts.get("authMechanismProperties", {}).items()}
    username, password = cs.username, cs.password
    explicit_source = opts.get("authSource")

    if mechanism in _EXTERNAL_ONLY:
        if explicit_source is not None and explicit_source != EXTERNAL:
            raise _error(mechanism, f"authSource must be {EXTERNAL!r}, not {explicit_source!r}")
        source = EXTERNAL
    elif mechanism == "PLAIN":
        # auth spec, "PLAIN": source defaults to the database name, else $external.
        source = explicit_source or cs.database or EXTERNAL
    else:
        source = explicit_source or cs.database or "admin"

    allowed = _ALLOWED_PROPERTIES.get(mechanism)  # type: ignore[arg-type]
    if props and allowed is None:
        raise _error(mechanism, f"takes no authMechanismProperties, got {sorted(props)}")
    if allowed is not None:
        unknown = sorted(set(props) - allowed)
        if unknown:
            raise _error(mechanism, f"unsupported authMechanismProperties {unknown}")

    checker = _CHECKS.get(mechanism, _check_password_mechanism)
    props = checker(mechanism, username, password, props)
    return Credential(username=username, password=password, source=source, mechanism=mechanism,
                      mechanism_properties=props or None)


def _check_password_mechanism(mechanism, username, password, props):
    # auth spec, SCRAM-SHA-1/SCRAM-SHA-256/PLAIN/MONGODB-CR: a non-empty username and a
    # password MUST be specified.
    if not username:
        raise _error(mechanism, "a non-empty user name is required")
    if password is None:
        raise _error(mechanism, "a password is required (it may be empty: 'user:@host')")
    return props


def _check_x509(mechanism, username, password, props):
    if password is not None:
        raise _error(mechanism, "a password must not be given (the client certificate is the proof)")
    return props


def _check_gssapi(mechanism, username, password, props):
    if not username:
        raise _error(mechanism, "a user name (the Kerberos principal) is required")
    canon = props.get("CANONICALIZE_HOST_NAME")
    if canon is not None and canon not in _CANONICALIZE_VALUES:
        raise _error(mechanism, f"CANONICALIZE_HOST_NAME must be one of {_CANONICALIZE_VALUES}, "
                                f"not {canon!r}")
    return {"SERVICE_NAME": "mongodb", **props}


def _check_aws(mechanism, username, password, props):
    # auth spec, "MONGODB-AWS": username and password come together; a session token
    # needs both (otherwise credentials come from the environment).
    if (username is None) != (password is None) or username == "":
        raise _error(mechanism, "give both user name (access key id) and password "
                                "(secret access key), or neither")
    if "AWS_SESSION_TOKEN" in props and username is None:
        raise _error(mechanism, "AWS_SESSION_TOKEN requires a user name and password")
    return props


def _check_oidc(mechanism, username, password, props):
    if password is not None:
        raise _error(mechanism, "a password must not be given")
    env = props.get("ENVIRONMENT")
    if env is None:
        if "OIDC_CALLBACK" not in props and "OIDC_HUMAN_CALLBACK" not in props:
            raise _error(mechanism, "set ENVIRONMENT in authMechanismProperties or give a callback")
        return props
    if env not in _OIDC_ENVIRONMENTS:
        raise _error(mechanism, f"ENVIRONMENT must be one of {_OIDC_ENVIRONMENTS}, not {env!r}")
    # auth spec, "Built-in OIDC Environment Integrations": azure and gcp need the token
    # audience; only azure takes a user name (the managed identity's client id).
    if env in ("azure", "gcp") and not props.get("TOKEN_RESOURCE"):
        raise _error(mechanism, f"ENVIRONMENT:{env} needs TOKEN_RESOURCE")
    if env != "azure" and username is not None:
        raise _error(mechanism, f"ENVIRONMENT:{env} takes no user name")
    return props


_CHECKS = {
    "MONGODB-X509": _check_x509,
    "GSSAPI": _check_gssapi,
    "MONGODB-AWS": _check_aws,
    "MONGODB-OIDC": _check_oidc,
}
