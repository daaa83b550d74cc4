"""SCRAM (RFC 5802 / RFC 7677 vectors, auth spec conversations), SASLprep (RFC 4013) and mechanism dispatch."""

from __future__ import annotations

import base64
import hashlib
import hmac
from types import SimpleNamespace

import pytest

from driver import auth
from driver.auth import plain, scram, x509
from driver.auth.saslprep import saslprep
from driver.errors import AuthenticationFailed, ConfigurationError, OperationFailure


def _conv(mechanism, password: bytes, nonce, cache=None):
    return scram.ScramConversation(mechanism, "user", password, nonce=nonce, cache=cache or scram._SaltedPasswordCache())


# --- RFC vectors ---------------------------------------------------------------------------

RFC5802 = dict(  # RFC 5802 section 5, raw password "pencil"
    mechanism="SCRAM-SHA-1", nonce="fyko+d2lbbFgONRv9qkxdawL",
    server_first=b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
    client_final=b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
    server_final=b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
)
RFC7677 = dict(  # RFC 7677 section 3
    mechanism="SCRAM-SHA-256", nonce="rOprNGfwEbeRWgbNEkqO",
    server_first=b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    client_final=b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    server_final=b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
)


@pytest.mark.parametrize("vector", [RFC5802, RFC7677], ids=["rfc5802-sha1", "rfc7677-sha256"])
def test_rfc_vectors(vector):
    conv = _conv(vector["mechanism"], b"pencil", vector["nonce"])
    assert conv.client_first() == b"n,,n=user,r=" + vector["nonce"].encode()
    assert conv.process_server_first(vector["server_first"]) == vector["client_final"]
    conv.verify_server_final(vector["server_final"])
    assert conv.done


def test_auth_spec_sha1_uses_mongodb_password_digest():
    # Auth spec, SCRAM-SHA-1 conversation: the password is HEX(MD5("user:mongo:pencil")).
    conv = scram.ScramConversation(
        "SCRAM-SHA-1", "user", scram.mongo_password("SCRAM-SHA-1", "user", "pencil"),
        nonce="fyko+d2lbbFgONRv9qkxdawL", cache=scram._SaltedPasswordCache(),
    )
    conv.client_first()
    final = conv.process_server_first(
        b"r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,s=rQ9ZY3MntBeuP3E1TDVC4w==,i=10000")
    assert final == b"c=biws,r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,p=MC2T8BvbmWRckDw8oWl5IVghwCY="
    conv.verify_server_final(b"v=UMWeI25JD1yNYZRMpZ4VHvhZ9e0=")


def test_sha256_password_is_saslprepped_sha1_is_not():
    assert scram.mongo_password("SCRAM-SHA-256", "u", "I\u00adX") == b"IX"
    assert scram.mongo_password("SCRAM-SHA-1", "u", "I\u00adX") == hashlib.md5(
        "u:mongo:I\u00adX".encode()).hexdigest().encode()


def test_username_is_escaped_not_saslprepped():
    conv = scram.ScramConversation("SCRAM-SHA-256", "a=b,c\u00ad", b"p", nonce="N")
    assert conv.client_first() == "n,,n=a=3Db=2Cc\u00ad,r=N".encode()


# --- server-first validation ---------------------------------------------------------------

@pytest.mark.parametrize("server_first, fragment", [
    (b"r=OTHERnonce,s=QSXCR+Q6sek8bf92,i=4096", "nonce"),
    (b"r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096", "nonce"),  # no server part
    (b"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=4095", "minimum is 4096"),
    (b"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=many", "not a number"),
    (b"r=fyko+d2lbbFgONRv9qkxdawLx,s=,i=4096", "empty salt"),
    (b"r=fyko+d2lbbFgONRv9qkxdawLx,s=!!!,i=4096", "base64"),
    (b"r=fyko+d2lbbFgONRv9qkxdawLx,i=4096", "lacks s="),
    (b"m=ext,r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=4096", "extension"),
    (b"garbage", "malformed"),
])
def test_server_first_is_validated(server_first, fragment):
    conv = _conv("SCRAM-SHA-1", b"pencil", "fyko+d2lbbFgONRv9qkxdawL")
    conv.client_first()
    with pytest.raises(AuthenticationFailed, match=fragment):
        conv.process_server_first(server_first)


@pytest.mark.parametrize("server_final", [b"v=AAAA", b"v=", b"e=invalid-proof", b"x=1"])
def test_wrong_server_signature_fails(server_final):
    conv = _conv("SCRAM-SHA-1", b"pencil", RFC5802["nonce"])
    conv.client_first()
    conv.process_server_first(RFC5802["server_first"])
    with pytest.raises(AuthenticationFailed):
        conv.verify_server_final(server_final)
    assert not conv.done


def test_steps_out_of_order_fail():
    conv = _conv("SCRAM-SHA-256", b"pencil", "n")
    with pytest.raises(AuthenticationFailed, match="state"):
        conv.process_server_first(RFC7677["server_first"])
    conv.client_first()
    with pytest.raises(AuthenticationFailed, match="state"):
        conv.client_first()


def test_salted_password_cache_is_keyed_by_password_salt_iterations():
    cache = scram._SaltedPasswordCache()
    for _ in range(2):
        conv = _conv("SCRAM-SHA-256", b"pencil", RFC7677["nonce"], cache)
        conv.client_first()
        assert conv.process_server_first(RFC7677["server_first"]) == RFC7677["client_final"]
    assert cache.hits == 1
    other = _conv("SCRAM-SHA-256", b"pen", RFC7677["nonce"], cache)
    other.client_first()
    other.process_server_first(RFC7677["server_first"])
    assert cache.hits == 1  # different password: a miss


def test_default_nonce_is_random_and_printable():
    a = scram.new_conversation("SCRAM-SHA-256", "u", "p").client_first()
    b = scram.new_conversation("SCRAM-SHA-256", "u", "p").client_first()
    assert a != b and b"," not in a.split(b"r=")[1]


# --- SASLprep, RFC 4013 section 3 examples -------------------------------------------------

@pytest.mark.parametrize("given, expected", [
    ("I\u00adX", "IX"),          # SOFT HYPHEN mapped to nothing
    ("user", "user"),
    ("USER", "USER"),             # case preserved
    ("\u00aa", "a"),              # NFKC
    ("\u2168", "IX"),             # NFKC
    ("a\u2000b", "a b"),          # non-ASCII space mapped to SPACE
    ("\u0627\u0628", "\u0627\u0628"),  # RandAL only: allowed
    ("", ""),
])
def test_saslprep_maps(given, expected):
    assert saslprep(given) == expected


@pytest.mark.parametrize("given", [
    "\u0007",            # prohibited control character
    "\u0627\u0031",      # RandAL not at both ends
    "\u0627a\u0627",     # RandAL mixed with LCat
    "a\ue000",           # private use
    "a\u0221",           # unassigned in Unicode 3.2
])
def test_saslprep_rejects(given):
    with pytest.raises(ConfigurationError, match="SASLprep"):
        saslprep(given)


def test_saslprep_can_allow_unassigned():
    assert saslprep("a\u0221", allow_unassigned=True) == "a\u0221"


# --- mechanism negotiation and dispatch, against an in-test SCRAM server ------------------

@pytest.mark.parametrize("mechs, expected", [
    (["SCRAM-SHA-1", "SCRAM-SHA-256"], "SCRAM-SHA-256"),
    (["SCRAM-SHA-256"], "SCRAM-SHA-256"),
    (["SCRAM-SHA-1"], "SCRAM-SHA-1"),
    (["PLAIN", "FOO"], "SCRAM-SHA-1"),
    ([], "SCRAM-SHA-1"),
    (None, "SCRAM-SHA-1"),
])
def test_negotiated_mechanism(mechs, expected):
    assert auth.negotiated_mechanism(mechs) == expected


class FakeScramServer:
    """Server side of SCRAM for one user, answering saslStart/saslContinue like mongod."""

    def __init__(self, password="pencil", iterations=4096, skip_empty=True, mechs=("SCRAM-SHA-256",)):
        self.password, self.iterations, self.skip_empty, self.mechs = password, iterations, skip_empty, mechs
        self.commands: list[tuple[str, dict]] = []
        self._state = {}

    def start(self, doc):
        mech = doc["mechanism"]
        if mech not in self.mechs:
            raise OperationFailure("Unable to use mechanism", 334, {"ok": 0, "code": 334})
        first = bytes(doc["payload"])
        assert first.startswith(b"n,,")
        bare = first[3:].decode()
        nonce = bare.split("r=")[1] + "SERVER"
        salt = b"0123456789abcdef"
        server_first = f"r={nonce},s={base64.b64encode(salt).decode()},i={self.iterations}"
        digest = "sha256" if mech == "SCRAM-SHA-256" else "sha1"
        pw = scram.mongo_password(mech, "user", self.password)
        salted = hashlib.pbkdf2_hmac(digest, pw, salt, self.iterations)
        self._state = dict(bare=bare, server_first=server_first, salted=salted, digest=digest, nonce=nonce)
        return {"ok": 1, "conversationId": 7, "done": False, "payload": server_first.encode()}

    def cont(self, doc):
        st = self._state
        payload = bytes(doc["payload"])
        if st.get("finished"):
            assert payload == b""
            return {"ok": 1, "conversationId": 7, "done": True, "payload": b""}
        without_proof, _, proof_b64 = payload.decode().rpartition(",p=")
        auth_msg = f"{st['bare']},{st['server_first']},{without_proof}".encode()
        client_key = hmac.new(st["salted"], b"Client Key", st["digest"]).digest()
        sig = hmac.new(hashlib.new(st["digest"], client_key).digest(), auth_msg, st["digest"]).digest()
        expected = bytes(a ^ b for a, b in zip(client_key, sig))
        if base64.b64decode(proof_b64) != expected:
            raise OperationFailure("Authentication failed.", 18, {"ok": 0, "code": 18})
        server_key = hmac.new(st["salted"], b"Server Key", st["digest"]).digest()
        v = base64.b64encode(hmac.new(server_key, auth_msg, st["digest"]).digest())
        st["finished"] = True
        return {"ok": 1, "conversationId": 7, "done": self.skip_empty, "payload": b"v=" + v}

    def __call__(self, db, body):
        self.commands.append((db, dict(body)))
        name = next(iter(body))
        if name == "saslStart":
            return self.start(body)
        if name == "saslContinue":
            return self.cont(body)
        raise AssertionError(f"unexpected command {name}")

    def hello(self, doc):
        """What the handshake reply would hold for a speculativeAuthenticate document."""
        reply = {"ok": 1, "saslSupportedMechs": list(self.mechs)}
        if doc is not None:
            reply["speculativeAuthenticate"] = self.start(doc)
        return reply


def cred(mechanism=None, password="pencil", source="admin", username="user"):
    return SimpleNamespace(username=username, password=password, source=source,
                           mechanism=mechanism, mechanism_properties=None)


@pytest.mark.parametrize("mechanism, server_mechs", [
    (None, ("SCRAM-SHA-1", "SCRAM-SHA-256")),
    (None, ("SCRAM-SHA-1",)),
    ("SCRAM-SHA-1", ("SCRAM-SHA-1", "SCRAM-SHA-256")),
    ("SCRAM-SHA-256", ("SCRAM-SHA-256",)),
])
@pytest.mark.parametrize("skip_empty", [True, False])
def test_authenticate_without_speculation(mechanism, server_mechs, skip_empty):
    server = FakeScramServer(mechs=server_mechs, skip_empty=skip_empty)
    used = auth.authenticate(server, cred(mechanism), hello_reply={"ok": 1, "saslSupportedMechs": list(server_mechs)})
    assert used == (mechanism or ("SCRAM-SHA-256" if "SCRAM-SHA-256" in server_mechs else "SCRAM-SHA-1"))
    names = [next(iter(c)) for _, c in server.commands]
    assert names == ["saslStart", "saslContinue"] + ([] if skip_empty else ["saslContinue"])
    assert all(db == "admin" for db, _ in server.commands)
    assert server.commands[0][1]["options"] == {"skipEmptyExchange": True}


def test_speculative_scram_saves_the_sasl_start():
    server = FakeScramServer()
    spec = auth.speculative_start(cred())
    assert spec.mechanism == "SCRAM-SHA-256" and spec.document["db"] == "admin"
    hello = server.hello(spec.document)
    auth.authenticate(server, cred(), hello_reply=hello, speculative=spec)
    assert [next(iter(c)) for _, c in server.commands] == ["saslContinue"]


def test_speculation_ignored_when_server_did_not_answer_it():
    server = FakeScramServer(mechs=("SCRAM-SHA-1",))
    spec = auth.speculative_start(cred())
    auth.authenticate(server, cred(), hello_reply={"ok": 1, "saslSupportedMechs": ["SCRAM-SHA-1"]}, speculative=spec)
    assert [c["mechanism"] for _, c in server.commands if "saslStart" in c] == ["SCRAM-SHA-1"]


def test_wrong_password_is_authentication_failed_with_context():
    server = FakeScramServer(password="other")
    with pytest.raises(AuthenticationFailed, match=r"SCRAM-SHA-256 .*'user'.* on h:1 failed: Authentication failed") as info:
        auth.authenticate(server, cred(), hello_reply=server.hello(None), address="h:1")
    assert isinstance(info.value.__cause__, OperationFailure) and info.value.__cause__.code == 18


def test_low_iteration_server_is_refused():
    server = FakeScramServer(iterations=1000)
    with pytest.raises(AuthenticationFailed, match="minimum is 4096"):
        auth.authenticate(server, cred(), hello_reply=server.hello(None))


def test_arbiter_and_no_credential_skip_auth():
    server = FakeScramServer()
    assert auth.authenticate(server, cred(), hello_reply={"ok": 1, "arbiterOnly": True}) == ""
    assert auth.authenticate(server, None, hello_reply={"ok": 1}) == ""
    assert server.commands == []


def test_sasl_supported_mechs_value_only_when_negotiating():
    assert auth.sasl_supported_mechs_value(cred(source="db")) == "db.user"
    assert auth.sasl_supported_mechs_value(cred("SCRAM-SHA-1")) is None
    assert auth.sasl_supported_mechs_value(None) is None


def test_plain_and_x509_commands():
    sent = []

    def run(db, body):
        sent.append((db, body))
        return {"ok": 1, "done": True}

    auth.authenticate(run, cred("PLAIN", source="$external"), hello_reply={"ok": 1})
    assert sent[0][0] == "$external" and bytes(sent[0][1]["payload"]) == b"\x00user\x00pencil"
    assert sent[0][1]["mechanism"] == "PLAIN"
    sent.clear()
    x = cred("MONGODB-X509", password=None, source="$external", username=None)
    auth.authenticate(run, x, hello_reply={"ok": 1})
    assert sent == [("$external", {"authenticate": 1, "mechanism": "MONGODB-X509"})]
    sent.clear()
    spec = auth.speculative_start(x)
    assert spec.document == {"authenticate": 1, "mechanism": "MONGODB-X509", "db": "$external"}
    auth.authenticate(run, x, hello_reply={"ok": 1, "speculativeAuthenticate": {"dbname": "$external"}},
                      speculative=spec)
    assert sent == []  # the speculative reply finished X.509


def test_plain_not_done_fails():
    with pytest.raises(AuthenticationFailed, match="PLAIN"):
        auth.authenticate(lambda db, body: {"ok": 1, "done": False}, cred("PLAIN"), hello_reply={"ok": 1})
    assert plain.sasl_start("u", "p")["autoAuthorize"] == 1
    assert x509.authenticate_command("CN=me")["user"] == "CN=me"


def test_unsupported_mechanism_is_configuration_error():
    with pytest.raises(ConfigurationError, match="GSSAPI"):
        auth.authenticate(lambda db, body: {"ok": 1}, cred("GSSAPI"), hello_reply={"ok": 1})
