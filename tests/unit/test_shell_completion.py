"""Shell completion: the pure "what fits at the cursor" function and the background name source."""

from __future__ import annotations

import threading

import pytest

from mongocli.shell.completion import Names, NameSource, Suggestion, complete


def _prelude_methods() -> dict[str, tuple[str, ...]]:
    """The method tables completion gets from the real JavaScript prelude (no server needed)."""
    from mongocli.shell.engine import Engine
    methods, _ = Engine(None, lambda text, stream: None).completion_data()
    return methods


NAMES = Names(databases=("admin", "shop", "staging"), collections=("orders", "order-lines", "users"),
              methods=_prelude_methods(), globals={"order": ("qty", "quantity", "name"), "n": ()})


def texts(text: str, names: Names = NAMES) -> list[str]:
    return [s.text for s in complete(text, names)]


def test_after_db_dot_offers_collections_then_db_methods():
    got = texts("db.")
    assert got[:2] == ["orders", "users"]  # "order-lines" is not an identifier: use db["order-lines"]
    assert "runCommand" in got and "getCollectionNames" in got and "getSiblingDB" in got


def test_prefix_filters_and_start_offset():
    assert complete("db.or", NAMES) == [Suggestion("orders", -2, "collection")]
    assert texts("db.run") == ["runCommand"]


def test_after_collection_dot_offers_collection_methods():
    got = texts("db.orders.")
    assert {"find", "insertOne", "aggregate", "countDocuments", "findOneAndUpdate", "bulkWrite"} <= set(got)
    assert "orders" not in got
    assert texts("db.orders.ins") == ["insert", "insertMany", "insertOne"]
    assert texts('db["order-lines"].fi') == ["find", "findOne", "findOneAndDelete", "findOneAndReplace",
                                             "findOneAndUpdate"]
    assert "countDocuments" in texts("db.getCollection('order-lines').co")


def test_after_a_call_offers_cursor_methods():
    assert set(texts("db.orders.find({}).")) >= {"sort", "limit", "skip", "toArray", "itcount", "explain"}
    assert texts("db.orders.find({a: 1}).li") == ["limit"]


def test_methods_of_rs_sh_and_user_variables():
    assert texts("rs.st") == ["status", "stepDown"]
    assert "status" in texts("sh.")
    assert texts("order.qu") == ["quantity"]
    assert texts("ord") == ["order"]
    assert texts("n.") == []


def test_operators_at_a_key_position():
    assert set(texts("db.orders.find({qty: {$g")) == {"$gt", "$gte", "$geoIntersects", "$geoWithin",
                                                       "$graphLookup", "$group"}
    assert "$set" in texts("db.orders.updateOne({}, {$s")
    assert set(texts("db.orders.find({$a")) == {"$all", "$and", "$addFields", "$addToSet", "$avg"}
    assert all(s.start == -len("$a") for s in complete("db.orders.find({$a", NAMES))


def test_plain_key_and_string_positions_offer_nothing():
    assert texts("db.orders.find({qt") == []
    assert texts("db.orders.find({name: '$g") == []


def test_show_use_and_top_level():
    assert texts("show ") == ["collections", "databases", "dbs", "log", "profile", "roles", "tables", "topology",
                              "users"]
    assert texts("show to") == ["topology"]
    assert texts("use s") == ["shop", "staging"]
    assert set(texts("")) >= {"db", "rs", "sh", "show", "use", "it", "exit", "help", "print", "order"}
    assert texts("Obj") == ["ObjectId", "Object"]


def test_last_statement_on_the_line_counts():
    assert texts("db.orders.find(); db.us") == ["users"]


class _FakeCatalog:
    """Names served by plain functions; `gate` holds the refresher to prove names() does not wait."""

    def __init__(self) -> None:
        self.collections = {"shop": ["orders"], "other": ["x"]}
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail = False

    def databases(self) -> list[str]:
        self.entered.set()
        self.gate.wait()
        if self.fail:
            raise ConnectionError("server down")
        return list(self.collections)

    def colls(self, db: str) -> list[str]:
        return self.collections.get(db, [])


@pytest.fixture
def catalog():
    return _FakeCatalog()


def test_name_source_refreshes_in_the_background(catalog):
    source = NameSource(catalog.databases, catalog.colls)
    gen = source.generation
    source.start("shop")
    try:
        assert source.wait_for(gen, timeout=5)
        assert source.names("shop") == Names(("other", "shop"), ("orders",))
        catalog.collections["shop"].append("users")
        gen = source.refresh("shop")
        assert source.wait_for(gen, timeout=5)
        assert source.names("shop").collections == ("orders", "users")
    finally:
        source.close()


def test_names_never_block_while_a_refresh_is_stuck(catalog):
    source = NameSource(catalog.databases, catalog.colls)
    source.start("shop")
    try:
        assert source.wait_for(-1, timeout=5)
        catalog.gate.clear()
        catalog.entered.clear()
        gen = source.refresh("shop")
        assert catalog.entered.wait(5)  # the refresher is now blocked inside list_databases
        assert source.names("shop").collections == ("orders",)  # answered from the last snapshot
        catalog.gate.set()
        assert source.wait_for(gen, timeout=5)
    finally:
        catalog.gate.set()
        source.close()


def test_failed_refresh_keeps_old_names(catalog):
    source = NameSource(catalog.databases, catalog.colls)
    source.start("shop")
    try:
        assert source.wait_for(-1, timeout=5)
        catalog.fail = True
        gen = source.refresh("shop")
        assert source.wait_for(gen, timeout=5)
        assert isinstance(source.last_error, ConnectionError)
        assert source.names("shop").databases == ("other", "shop")
    finally:
        source.close()


def test_switching_database_requests_its_names(catalog):
    source = NameSource(catalog.databases, catalog.colls)
    source.start("shop")
    try:
        assert source.wait_for(-1, timeout=5)
        gen = source.generation
        assert source.names("other").collections == ()  # unknown yet: empty, and a refresh is asked for
        assert source.wait_for(gen, timeout=5)
        assert source.names("other").collections == ("x",)
    finally:
        source.close()
