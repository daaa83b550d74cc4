// Shell globals (print, printjson, load, sleep, quit), meta-commands (use, show, it, help),
// the loop guard that makes a running script interruptible, and how a result is shown.
"use strict";

function __mc_text(args) { return args.map((a) => __mc_display(a)).join(" "); }
function print(...args) { __mc_write(__mc_text(args) + "\n", "stdout"); }
// mongosh's printjson: every field on its own line (util.inspect with compact: false).
function printjson(...args) { __mc_write(args.map((a) => __mc_inspect(a, { compact: false })).join(" ") + "\n", "stdout"); }
const console = {
  log: print, info: print, debug: print,
  warn(...args) { __mc_write(__mc_text(args) + "\n", "stderr"); },
  error(...args) { __mc_write(__mc_text(args) + "\n", "stderr"); },
};
function sleep(ms) {
  if (__mc_sleep(Number(ms) || 0)) throw __mc_makeError({ name: "MongoshInterruptedError", message: "execution was interrupted" });
}
function load(path) {
  const source = JSON.parse(__mc_loadSource(String(path)));
  if (source.error) throw new MongoshError(source.error, "MongoshInvalidInputError");
  (0, eval)(source.code);
  return true;
}
function quit(code) { __mc_quit(code === undefined ? 0 : Number(code)); throw new MongoshError("quit", "__mc_quit"); }
const exit = quit;
function isInteractive() { return __mc_interactive(); }
function passwordPrompt() { throw new MongoshError("passwordPrompt is not available here: put the password in the connection string or the URI's environment", "MongoshUnimplementedError"); }

// -- loop guard (see mongocli/shell/jssource.py) -------------------------------------------
let __mc_turns = 0;
function __mc_guard() {
  if (++__mc_turns >= 4096) {
    __mc_turns = 0;
    if (__mc_poll()) throw __mc_makeError({ name: "MongoshInterruptedError", message: "execution was interrupted" });
  }
  return true;
}
function __mc_rethrow(e) {
  if (e && e.__mc_interrupt) throw e;
  if (e && e.name === "__mc_quit") throw e;
}

// -- meta-commands -------------------------------------------------------------------------
function __mc_size(bytes) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = Number(bytes) || 0, u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${v.toFixed(2)} ${units[u]}`;
}

// mongosh's `show dbs` layout: names padded to the longest, sizes right-aligned.
function __mc_table(rows) {
  const width = Math.max(0, ...rows.map((r) => r[0].length));
  const sizeWidth = Math.max(0, ...rows.map((r) => r[1].length));
  return rows.map((r) => `${r[0].padEnd(width)}  ${r[1].padStart(sizeWidth)}`).join("\n");
}

const __mc_meta = {
  use(name) {
    name = String(name).trim().replace(/^['"]|['"]$/g, "");
    if (!name || /[/\\. "$*<>:|?]/.test(name) || name.length >= 64) {
      throw new MongoshError(`Invalid database name: ${name}`, "MongoshInvalidInputError");
    }
    db = db.getSiblingDB(name);
    return `switched to db ${name}`;
  },
  show(topic) {
    const [what, arg] = String(topic).trim().split(/\s+/);
    switch (what) {
      case "dbs": case "databases": {
        const dbs = __mc_call("listDatabases", {}).databases;
        return __mc_table(dbs.map((d) => [d.name, __mc_size(d.sizeOnDisk)]));
      }
      case "collections": case "tables": return db.getCollectionNames().join("\n");
      case "users": return __mc_inspect(db.getUsers().users);
      case "roles": return __mc_inspect(db.getRoles({ showBuiltinRoles: true }).roles);
      case "profile": {
        const docs = db.getCollection("system.profile").find().sort({ $natural: -1 }).limit(5).toArray();
        return docs.length ? __mc_inspect(docs) : "db.system.profile is empty\nUse db.setProfilingLevel(2) will enable profiling\nUse db.getCollection('system.profile').find() to show raw profile entries";
      }
      case "topology": return __mc_call("topologyText", {});
      case "log": return db.adminCommand({ getLog: arg || "global" }).log.join("\n");
      default:
        throw new MongoshError(`'${what || ""}' is not a valid argument for "show".`, "MongoshInvalidInputError");
    }
  },
  it() {
    if (__mc_lastCursor === null) return "no cursor";
    if (__mc_lastCursor instanceof ChangeStreamCursor) {
      const changes = __mc_lastCursor.__page(__mc_pageSize);
      return changes.length ? __mc_inspect(changes) : "";
    }
    return __mc_page(__mc_lastCursor);
  },
  help() {
    return [
      "  Shell Help:",
      "    use <db>                 switch the current database",
      "    show dbs | collections | users | roles | profile | log | topology",
      "    it                       the next 20 documents of the last cursor",
      "    exit | quit(code)        leave the shell",
      "    print(), printjson(), load(file), sleep(ms)",
      "  Database: db.getName(), db.getCollectionNames(), db.runCommand({...}), db.stats(), ...",
      "  Collection: db.coll.find(), findOne, insertOne, updateMany, aggregate, countDocuments, ...",
      "  Replica set: rs.status(), rs.conf(), rs.stepDown(); sharding: sh.status()",
      "  BSON: ObjectId, ISODate, NumberInt, NumberLong, NumberDecimal, UUID, BinData, Timestamp, MinKey, MaxKey",
    ].join("\n");
  },
};
function help() { return __mc_meta.help(); }
function it() { return __mc_meta.it(); }
function use(name) { return __mc_meta.use(name); }
// mongosh's connect(uri): a new connection's database (the URI's, else test); `db = connect(uri)` switches.
function connect(uri, user, pwd) {
  if (user !== undefined || pwd !== undefined) {
    throw new MongoshError("connect: put the user name and password in the connection string", "MongoshInvalidInputError");
  }
  if (uri === undefined) throw new MongoshError("connect: a connection string is required", "MongoshInvalidInputError");
  const mongo = new Mongo(/^mongodb(\+srv)?:\/\//.test(String(uri)) ? uri : `mongodb://${uri}`);
  return mongo.getDB(mongo.__defaultDb);
}

// -- showing a result ----------------------------------------------------------------------
// The text printed for an input's value ("" prints nothing), as mongosh prints it.
function __mc_show(value) {
  if (value === undefined) return "";
  if (value instanceof Cursor) return value.__isExplain ? __mc_inspect(value.explain(value.__isExplain)) : __mc_page(value);
  return __mc_display(value);
}

// Run one input (already instrumented) as a global script and show its value. An indirect
// eval keeps `undefined` (nothing printed) apart from `null`, which the Python side cannot.
function __mc_run(source, mode, allLevels) {
  const value = (0, eval)(source);
  if (mode !== "shell") return __mc_showJson(value, mode !== "canonical", mode === "jsonl");
  const depth = __mc_inspectOptions.depth;
  if (allLevels) __mc_inspectOptions.depth = Infinity;
  try { return __mc_show(value); } finally { __mc_inspectOptions.depth = depth; }
}

// Extended JSON of a value for --json/--format: cursors are read to the end.
function __mc_showJson(value, relaxed, lines) {
  if (value === undefined) return "";
  if (value instanceof Cursor) value = value.toArray();
  const ej = relaxed ? __mc_relax(__mc_toEJ(value)) : __mc_toEJ(value);
  if (lines && Array.isArray(ej)) return ej.map((d) => JSON.stringify(d)).join("\n");
  return lines ? JSON.stringify(ej) : JSON.stringify(ej, null, 2);
}

// An error as the shell prints it: "Name[CodeName]: message" (mongosh's form).
function __mc_errorText(e) {
  if (e instanceof Error) return String(e);
  return `Uncaught ${__mc_inspect(e)}`;
}

var db = __mc_dbProxy(new Database(__mc_initialDb()));

// -- completion data (read on the shell's thread after each input) --------------------------
const __mc_builtinGlobals = new Set(Object.getOwnPropertyNames(globalThis));

function __mc_completionData() {
  const own = (proto) => Object.getOwnPropertyNames(proto).filter((n) => !n.startsWith("__") && n !== "constructor");
  const methods = {
    collection: own(Collection.prototype), db: own(Database.prototype), cursor: own(Cursor.prototype),
    rs: own(rs), sh: own(sh), session: own(Session.prototype), EJSON: own(EJSON),
  };
  // A variable holding one of the shell's objects completes with its methods (they live on the
  // prototype, which for-in does not list): `const w = db.c.watch(); w.<Tab>` offers tryNext, ...
  const classes = [[ChangeStreamCursor, own(ChangeStreamCursor.prototype)], [Cursor, methods.cursor],
    [Session, methods.session], [Mongo, own(Mongo.prototype)], [Collection, methods.collection], [Database, methods.db]];
  const globals = {};
  for (const name of Object.getOwnPropertyNames(globalThis)) {
    if (__mc_builtinGlobals.has(name) || name.startsWith("__mc")) continue;
    let value;
    try { value = globalThis[name]; } catch (e) { continue; }
    const shellClass = value !== null && (typeof value === "object" || typeof value === "function")
      ? classes.find(([cls]) => value instanceof cls) : undefined;
    if (shellClass) { globals[name] = shellClass[1]; continue; }
    const keys = [];
    // At most 500 names, and none of an array's indexes: this runs before every prompt.
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      for (const k in value) {
        if (!k.startsWith("__")) keys.push(k);
        if (keys.length >= 500) break;
      }
    }
    globals[name] = keys;
  }
  return JSON.stringify({ methods, globals });
}
