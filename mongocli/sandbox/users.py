"""Users and built-in roles of a simulated deployment: the user-management commands and the
privilege check every command passes under --auth (Unauthorized, 13)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from bson import Binary

from mongocli.sandbox import scram

# What each command needs on its database: a privilege class. Classes stand for the server's
# action groups ("find", "insert", "collMod", "createUser", "serverStatus", ...) folded into
# the granularity of the built-in roles. Commands not listed need no privilege (listDatabases
# included: a server lists only the databases a user may see, and refuses nobody).
_NEEDS: dict[str, str] = {
    **dict.fromkeys(("find", "getMore", "killCursors", "count", "distinct", "aggregate", "explain",
                     "listIndexes", "collStats", "dbStats"), "read"),
    **dict.fromkeys(("insert", "update", "delete", "findAndModify", "findandmodify", "bulkWrite"), "write"),
    **dict.fromkeys(("create", "drop", "createIndexes", "dropIndexes", "deleteIndexes", "collMod", "validate",
                     "profile", "dropDatabase", "renameCollection"), "dbAdmin"),
    **dict.fromkeys(("createUser", "dropUser", "updateUser", "usersInfo", "grantRolesToUser",
                     "revokeRolesFromUser", "dropAllUsersFromDatabase"), "userAdmin"),
    **dict.fromkeys(("serverStatus", "replSetGetStatus", "replSetGetConfig", "getCmdLineOpts", "getLog",
                     "hostInfo", "currentOp", "getParameter"), "monitor"),
    **dict.fromkeys(("shutdown", "replSetStepDown", "replSetFreeze", "killOp", "fsync",
                     "configureFailPoint"), "manage"),
}
# Classes a role grants on its own database ("*": on every database; such roles live in admin).
_DB_ROLES: dict[str, frozenset[str]] = {
    "read": frozenset({"read"}),
    "readWrite": frozenset({"read", "write", "create"}),
    "dbAdmin": frozenset({"dbAdmin"}),
    "userAdmin": frozenset({"userAdmin"}),
    "dbOwner": frozenset({"read", "write", "dbAdmin", "userAdmin"}),
}
_ANY_DB_ROLES: dict[str, frozenset[str]] = {
    "readAnyDatabase": frozenset({"read"}),
    "readWriteAnyDatabase": frozenset({"read", "write"}),
    "dbAdminAnyDatabase": frozenset({"dbAdmin"}),
    "userAdminAnyDatabase": frozenset({"userAdmin"}),
    "clusterMonitor": frozenset({"monitor"}),
    "clusterManager": frozenset({"monitor", "manage"}),
    "hostManager": frozenset({"monitor", "manage"}),
    "clusterAdmin": frozenset({"monitor", "manage", "dbAdmin"}),
    "backup": frozenset({"read", "monitor"}),
    "restore": frozenset({"write", "dbAdmin", "userAdmin"}),
    "root": frozenset({"read", "write", "dbAdmin", "userAdmin", "monitor", "manage"}),
    "__system": frozenset({"read", "write", "dbAdmin", "userAdmin", "monitor", "manage"}),
}
_READ_WRITE_CREATE = {"create", "drop", "createIndexes", "dropIndexes", "deleteIndexes", "renameCollection"}


class UserError(Exception):
    """A user-management command failed: carries the server's code, codeName and message."""

    def __init__(self, code: int, code_name: str, errmsg: str) -> None:
        super().__init__(errmsg)
        self.reply = {"ok": 0.0, "errmsg": errmsg, "code": code, "codeName": code_name}


@dataclass
class User:
    """One user: where it lives, its roles and SCRAM credentials."""

    db: str
    name: str
    roles: list[dict[str, str]]
    password: str
    custom_data: Any = None
    user_id: Binary = field(default_factory=lambda: Binary(uuid.uuid4().bytes, 4))

    def info(self) -> dict[str, Any]:
        """The usersInfo document of this user."""
        doc: dict[str, Any] = {"_id": f"{self.db}.{self.name}", "userId": self.user_id, "user": self.name,
                               "db": self.db, "roles": [dict(r) for r in self.roles]}
        if self.custom_data is not None:
            doc["customData"] = self.custom_data
        doc["mechanisms"] = list(scram.MECHANISMS)
        return doc


class UserStore:
    """Every user of the deployment by (db, name), with credentials for SCRAM."""

    def __init__(self, admins: Mapping[str, str] | None = None) -> None:
        self._users: dict[tuple[str, str], User] = {}
        self._credentials: dict[tuple[str, str, str], Any] = {}
        for name, password in (admins or {}).items():
            self._put(User("admin", name, [{"role": "root", "db": "admin"}], password))

    def _put(self, user: User) -> None:
        self._users[(user.db, user.name)] = user
        for mechanism in scram.MECHANISMS:
            self._credentials.pop((user.db, user.name, mechanism), None)

    def exists(self, db: str, name: str) -> bool:
        """Whether the user exists (hello's saslSupportedMechs answers only for those)."""
        return (db, name) in self._users

    def credential(self, db: str, name: str, mechanism: str) -> Any:
        """The SCRAM credential of a user for a mechanism (derived once), or None."""
        user = self._users.get((db, name))
        if user is None:
            return None
        key = (db, name, mechanism)
        if key not in self._credentials:
            self._credentials[key] = scram.credential(mechanism, name, user.password)
        return self._credentials[key]

    def roles_of(self, db: str, name: str) -> list[dict[str, str]]:
        """A user's roles ([] for an unknown user)."""
        user = self._users.get((db, name))
        return [dict(r) for r in user.roles] if user else []

    # ----- authorization -----------------------------------------------------------------------
    def granted(self, identities: Iterable[tuple[str, str]], db: str) -> set[str]:
        """The privilege classes the authenticated users hold on ``db``."""
        classes: set[str] = set()
        for key in identities:
            user = self._users.get(key)
            for role in user.roles if user else ():
                name, role_db = role["role"], role["db"]
                if name in _ANY_DB_ROLES and role_db == "admin":
                    classes |= _ANY_DB_ROLES[name]
                elif name in _DB_ROLES and role_db == db:
                    classes |= _DB_ROLES[name]
        return classes

    def authorized(self, identities: Iterable[tuple[str, str]], db: str, name: str, cmd: Mapping[str, Any]) -> bool:
        """Whether the users may run this command on ``db`` (a user may always view itself)."""
        needed = _NEEDS.get(name)
        if needed is None:
            return True
        identities = set(identities)
        granted = self.granted(identities, db)
        if name == "usersInfo" and _only_self(cmd.get("usersInfo"), db, identities):
            return True
        if name == "aggregate" and any(isinstance(s, Mapping) and ("$out" in s or "$merge" in s)
                                       for s in cmd.get("pipeline") or []):
            return {"read", "write"} <= granted
        if needed == "dbAdmin" and name in _READ_WRITE_CREATE and "create" in granted:
            return True  # readWrite creates and drops collections and indexes
        return needed in granted

    # ----- user-management commands --------------------------------------------------------
    def run(self, db: str, name: str, cmd: Mapping[str, Any]) -> dict[str, Any]:
        """createUser / updateUser / dropUser / usersInfo / grantRolesToUser / revokeRolesFromUser /
        dropAllUsersFromDatabase, with the server's error codes."""
        try:
            return _COMMANDS[name](self, db, cmd)
        except UserError as exc:
            return exc.reply

    def _require(self, db: str, name: Any) -> User:
        user = self._users.get((db, name)) if isinstance(name, str) else None
        if user is None:
            raise UserError(11, "UserNotFound", f"Could not find user \"{name}\" for db \"{db}\"")
        return user

    def _create(self, db: str, cmd: Mapping[str, Any]) -> dict[str, Any]:
        name = cmd.get("createUser")
        if not isinstance(name, str) or not name:
            raise UserError(2, "BadValue", "User document needs 'user' field to be a non-empty string")
        if (db, name) in self._users:
            raise UserError(51003, "Location51003", f"User \"{name}@{db}\" already exists")
        password = cmd.get("pwd")
        if not isinstance(password, str) or not password:
            raise UserError(2, "BadValue", "Must provide a 'pwd' field for all user documents, except those "
                                           "with '$external' as the user's source db")
        if "roles" not in cmd:
            raise UserError(40414, "Location40414", "BSON field 'createUser.roles' is missing but a required field")
        self._put(User(db, name, _parse_roles(cmd["roles"], db), password, cmd.get("customData")))
        return {"ok": 1.0}

    def _update(self, db: str, cmd: Mapping[str, Any]) -> dict[str, Any]:
        user = self._require(db, cmd.get("updateUser"))
        if "pwd" in cmd:
            if not isinstance(cmd["pwd"], str) or not cmd["pwd"]:
                raise UserError(2, "BadValue", "'pwd' must be a non-empty string")
            user.password = cmd["pwd"]
        if "roles" in cmd:
            user.roles = _parse_roles(cmd["roles"], db)
        if "customData" in cmd:
            user.custom_data = cmd["customData"]
        self._put(user)
        return {"ok": 1.0}

    def _drop(self, db: str, cmd: Mapping[str, Any]) -> dict[str, Any]:
        user = self._require(db, cmd.get("dropUser"))
        del self._users[(user.db, user.name)]
        return {"ok": 1.0}

    def _drop_all(self, db: str, cmd: Mapping[str, Any]) -> dict[str, Any]:
        doomed = [key for key in self._users if key[0] == db]
        for key in doomed:
            del self._users[key]
        return {"n": len(doomed), "ok": 1.0}

    def _grant(self, db: str, cmd: Mapping[str, Any]) -> dict[str, Any]:
        user = self._require(db, cmd.get("grantRolesToUser"))
        for role in _parse_roles(cmd.get("roles"), db):
            if role not in user.roles:
                user.roles.append(role)
        return {"ok": 1.0}

    def _revoke(self, db: str, cmd: Mapping[str, Any]) -> dict[str, Any]:
        user = self._require(db, cmd.get("revokeRolesFromUser"))
        revoked = _parse_roles(cmd.get("roles"), db)
        user.roles = [r for r in user.roles if r not in revoked]
        return {"ok": 1.0}

    def _info(self, db: str, cmd: Mapping[str, Any]) -> dict[str, Any]:
        which = cmd.get("usersInfo")
        if which == 1 or which is True:
            found = [u for (udb, _), u in sorted(self._users.items()) if udb == db]
        elif isinstance(which, Mapping) and which.get("forAllDBs"):
            found = [u for _, u in sorted(self._users.items())]
        else:
            wanted = which if isinstance(which, list) else [which]
            found = []
            for item in wanted:
                key = (item.get("db", db), item.get("user")) if isinstance(item, Mapping) else (db, item)
                if key in self._users:
                    found.append(self._users[key])
        return {"users": [u.info() for u in found], "ok": 1.0}


_COMMANDS = {"createUser": UserStore._create, "updateUser": UserStore._update, "dropUser": UserStore._drop,
             "dropAllUsersFromDatabase": UserStore._drop_all, "grantRolesToUser": UserStore._grant,
             "revokeRolesFromUser": UserStore._revoke, "usersInfo": UserStore._info}
COMMANDS = frozenset(_COMMANDS)


def _parse_roles(roles: Any, db: str) -> list[dict[str, str]]:
    if not isinstance(roles, list):
        raise UserError(14, "TypeMismatch", "BSON field 'roles' is the wrong type, expected type 'array'")
    out = []
    for role in roles:
        name, role_db = (role, db) if isinstance(role, str) else (
            (role.get("role"), role.get("db", db)) if isinstance(role, Mapping) else (None, db))
        if not isinstance(name, str) or not isinstance(role_db, str):
            raise UserError(2, "BadValue", "Role names must be either strings or objects with 'role' and 'db'")
        # Any-database roles exist only in admin; database roles in every database.
        if not (name in _DB_ROLES or (name in _ANY_DB_ROLES and role_db == "admin")):
            raise UserError(31, "RoleNotFound", f"Could not find role: {name}@{role_db}")
        out.append({"role": name, "db": role_db})
    return out


def _only_self(which: Any, db: str, identities: set[tuple[str, str]]) -> bool:
    if isinstance(which, str):
        return (db, which) in identities
    if isinstance(which, Mapping) and "user" in which:
        return (which.get("db", db), which["user"]) in identities
    return False


def denial(db: str, name: str, cmd: Mapping[str, Any]) -> str:
    """The server's Unauthorized message (format of AuthorizationSession's errors; the command
    document is abbreviated to its first field here)."""
    return f"not authorized on {db} to execute command {{ {name}: {cmd.get(name)!r} }}"
