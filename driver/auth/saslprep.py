"""SASLprep (RFC 4013), the stringprep profile SCRAM-SHA-256 applies to passwords, on stdlib stringprep."""

from __future__ import annotations

import stringprep
import unicodedata

from driver.errors import ConfigurationError

# RFC 4013 section 2.3: the prohibited output tables (C.1.2 is handled by the mapping step,
# but a non-ASCII space cannot survive mapping, so checking it again is harmless).
_PROHIBITED = (
    ("non-ASCII space (C.1.2)", stringprep.in_table_c12),
    ("ASCII control character (C.2.1)", stringprep.in_table_c21),
    ("non-ASCII control character (C.2.2)", stringprep.in_table_c22),
    ("private use character (C.3)", stringprep.in_table_c3),
    ("non-character code point (C.4)", stringprep.in_table_c4),
    ("surrogate code point (C.5)", stringprep.in_table_c5),
    ("character inappropriate for plain text (C.6)", stringprep.in_table_c6),
    ("character inappropriate for canonical representation (C.7)", stringprep.in_table_c7),
    ("change-display-property or deprecated character (C.8)", stringprep.in_table_c8),
    ("tagging character (C.9)", stringprep.in_table_c9),
)


def saslprep(text: str, *, allow_unassigned: bool = False) -> str:
    """Prepare `text` per RFC 4013 and return it; raise ConfigurationError if it is prohibited.

    Stored strings (passwords) must not contain unassigned code points (RFC 3454 section 7),
    so `allow_unassigned` is False by default.
    """
    if not isinstance(text, str):
        raise TypeError(f"saslprep() needs a str, got {type(text).__name__}")
    # RFC 4013 2.1 Mapping: non-ASCII spaces become SPACE; "commonly mapped to nothing" (B.1) go.
    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else ch
        for ch in text
        if not stringprep.in_table_b1(ch)
    )
    # RFC 4013 2.2 Normalization: Unicode form KC.
    prepared = unicodedata.ucd_3_2_0.normalize("NFKC", mapped)
    if not prepared:
        return prepared
    for ch in prepared:
        for what, in_table in _PROHIBITED:
            if in_table(ch):
                raise ConfigurationError(
                    f"SASLprep: the password contains a prohibited {what}: U+{ord(ch):04X}"
                )
        if not allow_unassigned and stringprep.in_table_a1(ch):
            raise ConfigurationError(
                f"SASLprep: the password contains an unassigned code point U+{ord(ch):04X}"
            )
    _check_bidi(prepared)
    return prepared


def _check_bidi(prepared: str) -> None:
    """RFC 3454 section 6: a string with RandALCat characters has no LCat and starts and ends with RandALCat."""
    rand_al = [stringprep.in_table_d1(ch) for ch in prepared]
    if not any(rand_al):
        return
    if any(stringprep.in_table_d2(ch) for ch in prepared):
        raise ConfigurationError(
            "SASLprep: the password mixes right-to-left and left-to-right characters (RFC 3454 section 6)"
        )
    if not (rand_al[0] and rand_al[-1]):
        raise ConfigurationError(
            "SASLprep: a password with right-to-left characters must start and end with one (RFC 3454 section 6)"
        )
