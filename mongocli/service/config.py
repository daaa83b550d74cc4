"""The user's config file: $XDG_CONFIG_HOME/mongocli/config.toml (default URI, profiles, output).

    uri = "mongodb://127.0.0.1:27017"      # used when neither --uri nor MONGODB_URI is given
    format = "table"                       # auto | pretty | table | json | jsonl
    ejson = "relaxed"                      # relaxed | canonical
    color = false                          # false: as NO_COLOR
    editing_mode = "vi"                    # the shell's key bindings: emacs | vi

    [profiles.prod]                        # mongocli --profile prod ...
    uri = "mongodb+srv://cluster0.example.net/"

Command-line options win over environment variables, which win over the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from mongocli.errors import UserError
from mongocli.output.environment import EJSON_MODES, FORMATS

_KEYS = {"uri": str, "format": str, "ejson": str, "color": bool, "editing_mode": str, "profiles": dict}
_CHOICES = {"format": FORMATS, "ejson": EJSON_MODES, "editing_mode": ("emacs", "vi")}


@dataclass(frozen=True)
class Config:
    """The file's settings, validated; None means "not set in the file"."""

    path: Path | None = None
    uri: str | None = None
    format: str | None = None
    ejson: str | None = None
    color: bool | None = None
    editing_mode: str | None = None
    profiles: Mapping[str, str] = field(default_factory=dict)   # profile name -> URI

    def profile_uri(self, name: str) -> str:
        if name not in self.profiles:
            known = ", ".join(sorted(self.profiles)) or "none"
            raise UserError(f"--profile {name!r} is not in {self.path or 'the config file'} "
                            f"(profiles: {known})")
        return self.profiles[name]


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """XDG Base Directory: $XDG_CONFIG_HOME (default ~/.config) / mongocli / config.toml."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "mongocli" / "config.toml"


def load_config(path: Path) -> Config:
    """Read and validate the file; a missing file is an empty Config; errors name file and key."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"config file {path}: {exc}") from None
    import tomllib  # only when there is a file to read
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"config file {path}: {exc}") from None
    return parse_config(data, path)


def parse_config(data: Mapping[str, Any], path: Path | None = None) -> Config:
    """A parsed TOML table -> Config (pure); unknown keys and wrong types are errors, not ignored."""
    where = f"config file {path}" if path else "config"
    for key, value in data.items():
        if key not in _KEYS:
            raise UserError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(_KEYS))})")
        if not isinstance(value, _KEYS[key]):
            raise UserError(f"{where}: {key} must be a {_KEYS[key].__name__}, not {value!r}")
        if key in _CHOICES and value not in _CHOICES[key]:
            raise UserError(f"{where}: {key} must be one of {', '.join(_CHOICES[key])}, not {value!r}")
    profiles: dict[str, str] = {}
    for name, table in data.get("profiles", {}).items():
        if not isinstance(table, dict) or not isinstance(table.get("uri"), str) or set(table) != {"uri"}:
            raise UserError(f"{where}: [profiles.{name}] must hold exactly one string key, uri")
        profiles[name] = table["uri"]
    return Config(path=path, uri=data.get("uri"), format=data.get("format"), ejson=data.get("ejson"),
                  color=data.get("color"), editing_mode=data.get("editing_mode"), profiles=profiles)
