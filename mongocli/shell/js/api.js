// mongosh's API (db, collections, cursors, sessions, rs, sh) over one bridge into the driver:
// __mc_bridge(request) takes and returns canonical Extended JSON text.
"use strict";

// -- errors --------------------------------------------------------------------------------
class MongoshError extends Error {
  constructor(message, name) { super(message); this.name = name || "MongoshError"; }
}
class MongoServerError extends Error {
  constructor(info) {
    super(info.message);
    this.name = info.name || "MongoServerError";
    for (const k of Object.keys(info)) if (!["name", "message"].includes(k)) this[k] = __mc_fromEJ(info[k]);
  }
  toString() { return `${this.name}: ${this.message}`; }  // as mongosh 2.12 prints it (codeName is a property)
}

function __mc_makeError(info) {
  if (info.name === "MongoServerError" || info.name === "MongoBulkWriteError" || info.name === "MongoClientBulkWriteError" || info.name === "MongoWriteConcernError") {
    return new MongoServerError(info);
  }
  const err = new MongoshError(info.message, info.name);
  if (info.name === "MongoshInterruptedError") err.__mc_interrupt = true;
  return err;
}

// -- the bridge ----------------------------------------------------------------------------
function __mc_call(op, args) {
  const request = __mc_toEJ(Object.assign({ op }, args || {}));
  const reply = JSON.parse(__mc_bridge(JSON.stringify(request)));
  if (reply.error) throw __mc_makeError(reply.error);
  return __mc_fromEJ(reply.ok);
}

function __mc_warn(text) { __mc_write(text + "\n", "stderr"); }
const __mc_warned = new Set();
function __mc_deprecated(what, instead) {
  if (__mc_warned.has(what)) return;
  __mc_warned.add(what);
  __mc_warn(`DeprecationWarning: ${what} is deprecated. ${instead}`);
}

function __mc_needDoc(value, method, what) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new MongoshError(`${method}: ${what} must be a document, got ${value === null ? "null" : Array.isArray(value) ? "an array" : typeof value}`, "MongoshInvalidInputError");
  }
}

// -- cursors -------------------------------------------------------------------------------
class Cursor {
  constructor(open, description, findSpec) {
    this.__open = open;            // () => bridge request args that open the cursor
    this.__description = description;
    this.__spec = findSpec;        // find options (null for aggregation cursors)
    this.__id = null;
    this.__buffer = [];
    this.__exhausted = false;
    this.__mapper = null;
  }
  __modify(key, value) {
    if (this.__id !== null) throw new MongoshError(`Cursor.${key}: the cursor has already started iterating`, "MongoshInvalidInputError");
    if (this.__spec === null && key !== "batchSize" && key !== "maxTimeMS" && key !== "comment") {
      throw new MongoshError(`${key} is not available on an aggregation cursor`, "MongoshInvalidInputError");
    }
    (this.__spec || (this.__aggOptions = this.__aggOptions || {}))[key] = value;
    return this;
  }
  sort(spec) { return this.__modify("sort", spec); }
  limit(n) { return this.__modify("limit", n); }
  skip(n) { return this.__modify("skip", n); }
  batchSize(n) { return this.__modify("batchSize", n); }
  hint(index) { return this.__modify("hint", index); }
  collation(spec) { return this.__modify("collation", spec); }
  comment(text) { return this.__modify("comment", text); }
  maxTimeMS(ms) { return this.__modify("maxTimeMS", ms); }
  allowDiskUse(v) { return this.__modify("allowDiskUse", v === undefined ? true : v); }
  projection(spec) { return this.__modify("projection", spec); }
  min(spec) { return this.__modify("min", spec); }
  max(spec) { return this.__modify("max", spec); }
  returnKey(v) { return this.__modify("returnKey", v); }
  showRecordId(v) { return this.__modify("showRecordId", v); }
  noCursorTimeout() { return this.__modify("noCursorTimeout", true); }
  readPref() { return this; }
  pretty() { return this; }
  map(fn) {
    const previous = this.__mapper;
    this.__mapper = previous ? (d) => fn(previous(d)) : fn;
    return this;
  }
  __fill() {
    if (this.__buffer.length || this.__exhausted) return;
    if (this.__id === null) {
      this.__id = __mc_call("openCursor", Object.assign(this.__open(), { spec: this.__spec || this.__aggOptions || {} }));
    }
    const reply = __mc_call("nextBatch", { id: this.__id });
    this.__buffer = reply.docs;
    if (!reply.more) this.__exhausted = true;
  }
  hasNext() { this.__fill(); return this.__buffer.length > 0; }
  next() {
    this.__fill();
    if (!this.__buffer.length) throw new MongoshError("Cursor.next: the cursor is exhausted", "MongoshInvalidInputError");
    const doc = this.__buffer.shift();
    return this.__mapper ? this.__mapper(doc) : doc;
  }
  tryNext() { return this.hasNext() ? this.next() : null; }
  isExhausted() { return !this.hasNext(); }
  objsLeftInBatch() { return this.__buffer.length; }
  forEach(fn) { while (this.hasNext()) { if (fn(this.next()) === false) break; } }
  toArray() { const out = []; while (this.hasNext()) out.push(this.next()); return out; }
  itcount() { let n = 0; while (this.hasNext()) { this.next(); n++; } return n; }
  size() { return this.count(); }
  count() {
    if (this.__spec === null) throw new MongoshError("count is not available on an aggregation cursor", "MongoshInvalidInputError");
    const o = this.__open();
    return __mc_call("count", { conn: o.conn, db: o.db, coll: o.coll, filter: o.filter || {}, options: {} });
  }
  explain(verbosity) {
    const o = this.__open();
    return __mc_call("explain", Object.assign({}, o, { spec: this.__spec || this.__aggOptions || {}, verbosity: verbosity || "queryPlanner" }));
  }
  close() { if (this.__id !== null && !this.__exhausted) __mc_call("closeCursor", { id: this.__id }); this.__exhausted = true; this.__buffer = []; }
  [Symbol.iterator]() { const self = this; return { next() { return self.hasNext() ? { value: self.next(), done: false } : { value: undefined, done: true }; } }; }
  __inspect() { return this.__description; }
}

let __mc_lastCursor = null;
const __mc_pageSize = 20;

function __mc_page(cursor) {
  const docs = [];
  while (docs.length < __mc_pageSize && cursor.hasNext()) docs.push(cursor.next());
  // A new result replaces the one `it` pages through: close the old server cursor now.
  if (__mc_lastCursor !== null && __mc_lastCursor !== cursor) __mc_lastCursor.close();
  __mc_lastCursor = cursor.hasNext() ? cursor : null;
  if (!docs.length) return "";
  return __mc_inspect(docs) + (__mc_lastCursor ? '\nType "it" for more' : "");
}

// -- collections ---------------------------------------------------------------------------
function __mc_options(o) { return o === undefined || o === null ? {} : o; }

class Collection {
  constructor(database, name) { this.__db = database; this.__name = name; }
  __args(extra) { return Object.assign({ conn: this.__db.__conn, db: this.__db.getName(), coll: this.__name, session: this.__db.__session }, extra); }
  getName() { return this.__name; }
  getFullName() { return `${this.__db.getName()}.${this.__name}`; }
  getDB() { return this.__db; }
  getMongo() { return this.__db.getMongo(); }
  toString() { return this.getFullName(); }
  __inspect() { return this.getFullName(); }

  find(filter, projection, options) {
    const self = this;
    const spec = Object.assign({}, __mc_options(options));
    if (projection !== undefined) spec.projection = projection;
    const query = filter === undefined ? {} : filter;
    __mc_needDoc(query, "find", "the filter");
    return new Cursor(() => self.__args({ kind: "find", filter: query }), `Cursor(${this.getFullName()})`, spec);
  }
  findOne(filter, projection, options) {
    const cursor = this.find(filter === undefined ? {} : filter, projection, options).limit(1);
    return cursor.hasNext() ? cursor.next() : null;
  }
  aggregate(pipeline, options) {
    if (!Array.isArray(pipeline)) pipeline = Array.from(arguments).filter((s) => s && typeof s === "object" && !Array.isArray(s));
    const self = this;
    const cursor = new Cursor(() => self.__args({ kind: "aggregate", pipeline }), `AggregationCursor(${this.getFullName()})`, null);
    cursor.__aggOptions = Object.assign({}, __mc_options(options));
    if (options && options.explain) return cursor.explain();
    return cursor;
  }
  countDocuments(filter, options) { return __mc_call("countDocuments", this.__args({ filter: filter || {}, options: __mc_options(options) })); }
  estimatedDocumentCount(options) { return __mc_call("estimatedDocumentCount", this.__args({ options: __mc_options(options) })); }
  count(filter, options) {
    __mc_deprecated("Collection.count()", "Use countDocuments or estimatedDocumentCount.");
    return __mc_call("count", this.__args({ filter: filter || {}, options: __mc_options(options) }));
  }
  distinct(key, filter, options) { return __mc_call("distinct", this.__args({ key, filter: filter || {}, options: __mc_options(options) })); }

  insertOne(document, options) { __mc_needDoc(document, "insertOne", "the document"); return __mc_call("insertOne", this.__args({ document, options: __mc_options(options) })); }
  insertMany(documents, options) {
    if (!Array.isArray(documents)) throw new MongoshError("insertMany: the documents must be an array", "MongoshInvalidInputError");
    return __mc_call("insertMany", this.__args({ documents, options: __mc_options(options) }));
  }
  insert(documents, options) {
    __mc_deprecated("Collection.insert()", "Use insertOne, insertMany, or bulkWrite.");
    return Array.isArray(documents) ? this.insertMany(documents, options) : this.insertOne(documents, options);
  }
  updateOne(filter, update, options) { return __mc_call("updateOne", this.__args({ filter, update, options: __mc_options(options) })); }
  updateMany(filter, update, options) { return __mc_call("updateMany", this.__args({ filter, update, options: __mc_options(options) })); }
  replaceOne(filter, replacement, options) { return __mc_call("replaceOne", this.__args({ filter, update: replacement, options: __mc_options(options) })); }
  deleteOne(filter, options) { return __mc_call("deleteOne", this.__args({ filter, options: __mc_options(options) })); }
  deleteMany(filter, options) { return __mc_call("deleteMany", this.__args({ filter, options: __mc_options(options) })); }
  findOneAndUpdate(filter, update, options) { return __mc_call("findOneAndUpdate", this.__args({ filter, update, options: __mc_options(options) })); }
  findOneAndReplace(filter, replacement, options) { return __mc_call("findOneAndReplace", this.__args({ filter, update: replacement, options: __mc_options(options) })); }
  findOneAndDelete(filter, options) { return __mc_call("findOneAndDelete", this.__args({ filter, options: __mc_options(options) })); }
  bulkWrite(operations, options) {
    if (!Array.isArray(operations)) throw new MongoshError("bulkWrite: the operations must be an array", "MongoshInvalidInputError");
    return __mc_call("bulkWrite", this.__args({ operations, options: __mc_options(options) }));
  }

  createIndex(keys, options) { return __mc_call("createIndexes", this.__args({ indexes: [Object.assign({ key: keys }, __mc_options(options))], one: true })); }
  createIndexes(keyList, options) {
    return __mc_call("createIndexes", this.__args({ indexes: keyList.map((k) => Object.assign({ key: k }, __mc_options(options))), one: false }));
  }
  ensureIndex(keys, options) { return this.createIndex(keys, options); }
  getIndexes() { return __mc_call("listIndexes", this.__args({})); }
  getIndexKeys() { return this.getIndexes().map((i) => i.key); }
  getIndices() { return this.getIndexes(); }
  dropIndex(index) { return __mc_call("dropIndexes", this.__args({ index })); }
  dropIndexes(indexes) { return __mc_call("dropIndexes", this.__args({ index: indexes === undefined ? "*" : indexes })); }
  drop() { return __mc_call("drop", this.__args({})); }
  renameCollection(target, dropTarget) { return __mc_call("renameCollection", this.__args({ target, dropTarget: !!dropTarget })); }
  stats(options) { return this.__db.runCommand({ collStats: this.__name, scale: (options && options.scale) || (typeof options === "number" ? options : undefined) }); }
  dataSize() { return this.stats().size; }
  totalIndexSize() { return this.stats().totalIndexSize; }
  isCapped() { const info = this.__db.getCollectionInfos({ name: this.__name })[0]; return !!(info && info.options && info.options.capped); }
  validate(options) { return this.__db.runCommand(Object.assign({ validate: this.__name }, typeof options === "object" ? options : { full: !!options })); }
  explain(verbosity) { return new Explainable(this, verbosity || "queryPlanner"); }
  watch(pipeline, options) { return __mc_watch(this.__args({}), pipeline, options, this.__name); }
  getCollection(name) { return this.__db.getCollection(`${this.__name}.${name}`); }
  hideIndex(name) { return this.__db.runCommand({ collMod: this.__name, index: { name, hidden: true } }); }
  unhideIndex(name) { return this.__db.runCommand({ collMod: this.__name, index: { name, hidden: false } }); }
}

class Explainable {
  constructor(coll, verbosity) { this.__coll = coll; this.__verbosity = verbosity; }
  find(filter, projection, options) {
    const cursor = this.__coll.find(filter, projection, options);
    const verbosity = this.__verbosity;
    cursor.__inspect = function () { return __mc_inspect(this.explain(verbosity)); };
    cursor.toArray = function () { return [this.explain(verbosity)]; };
    cursor.__isExplain = verbosity;
    return cursor;
  }
  aggregate(pipeline, options) { return this.__coll.aggregate(pipeline, options).explain(this.__verbosity); }
  count(filter) { return this.__coll.getDB().runCommand({ explain: { count: this.__coll.getName(), query: filter || {} }, verbosity: this.__verbosity }); }
  distinct(key, filter) { return this.__coll.getDB().runCommand({ explain: { distinct: this.__coll.getName(), key, query: filter || {} }, verbosity: this.__verbosity }); }
  __inspect() { return `Explainable(${this.__coll.getFullName()})`; }
}

// -- change streams (mongosh's ChangeStreamCursor) ------------------------------------------
// watch() opens the stream at once (the aggregate runs now), so it sees every change made
// after the call. tryNext() is one bridge call of at most one getMore; next()/hasNext() repeat it
// until a change comes, and each call is a point where Ctrl-C stops them.
class ChangeStreamCursor {
  constructor(args, on) {
    const opened = __mc_call("openChangeStream", args);
    this.__id = opened.id;
    this.__token = opened.resumeToken;
    this.__on = on;
    this.__closed = false;
    this.__held = null;   // a change hasNext() saw and next() has not returned yet
  }
  __take() {
    if (this.__held !== null) { const c = this.__held; this.__held = null; return c; }
    if (this.__closed) return null;
    const reply = __mc_call("changeStreamNext", { id: this.__id });
    this.__token = reply.resumeToken;
    if (reply.closed) this.__closed = true;
    return reply.change;
  }
  __blockingWarning(method) {
    __mc_warn(`If there are no documents in the batch, ${method} will block. Use tryNext if you want to check if there are any documents without waiting.`);
  }
  tryNext() {
    if (this.__closed && this.__held === null) throw new MongoshError("Cannot call tryNext on closed cursor", "MongoshRuntimeError");
    return this.__take();
  }
  hasNext() {
    this.__blockingWarning("hasNext");
    while (this.__held === null && !this.__closed) this.__held = this.__take();
    return this.__held !== null;
  }
  next() {
    this.__blockingWarning("next");
    for (;;) {
      const change = this.__take();
      if (change !== null) return change;
      if (this.__closed) throw new MongoshError("ChangeStreamCursor is closed", "MongoshRuntimeError");
    }
  }
  getResumeToken() { return this.__token; }
  isClosed() { return this.__closed; }
  close() { if (!this.__closed) __mc_call("closeCursor", { id: this.__id }); this.__closed = true; this.__held = null; }
  isExhausted() {
    throw new MongoshError("isExhausted is not implemented for ChangeStreams because after closing a cursor, the remaining documents in the batch are no longer accessible. If you want to see if the cursor is closed use isClosed. If you want to see if there are documents left in the batch, use tryNext.", "MongoshInvalidInputError");
  }
  itcount() { let n = 0; while (this.tryNext() !== null) n++; return n; }
  pretty() { return this; }
  toArray() { throw new MongoshError("Cannot call toArray on a change stream cursor", "MongoshUnimplementedError"); }
  batchSize() { throw new MongoshError("Cannot call batchSize on a change stream cursor", "MongoshUnimplementedError"); }
  objsLeftInBatch() { throw new MongoshError("Cannot call objsLeftInBatch on a change stream cursor", "MongoshUnimplementedError"); }
  maxTimeMS() { throw new MongoshError("Cannot call maxTimeMS on a change stream cursor", "MongoshUnimplementedError"); }
  // `it`: the changes there are now, up to a page, without waiting for more (mongosh iterates with tryNext)
  __page(size) {
    if (this.__closed && this.__held === null) throw new MongoshError("ChangeStreamCursor is closed", "MongoshRuntimeError");
    const docs = [];
    let change;
    while (docs.length < size && (change = this.__take()) !== null) docs.push(change);
    return docs;
  }
  __inspect() { return `ChangeStreamCursor on ${this.__on}`; }
}

function __mc_watch(args, pipeline, options, on) {
  if (pipeline !== undefined && pipeline !== null && !Array.isArray(pipeline)) { options = pipeline; pipeline = []; }
  const cursor = new ChangeStreamCursor(Object.assign({ pipeline: pipeline || [], options: __mc_options(options) }, args), on);
  if (__mc_lastCursor !== null && __mc_lastCursor !== cursor) __mc_lastCursor.close();
  __mc_lastCursor = cursor;  // `it` reads it, as mongosh's currentCursor
  return cursor;
}

// A Collection as mongosh users see it: db.c.sub is the collection "c.sub"; calling an
// unknown method fails naming it (TypeError: db.c.foo is not a function).
function __mc_collectionProxy(coll, path) {
  const target = function () {};
  return new Proxy(target, {
    get(t, prop) {
      if (prop in coll) { const v = coll[prop]; return typeof v === "function" ? v.bind(coll) : v; }
      if (typeof prop !== "string" || prop.startsWith("__") || prop === "then" || prop === "toJSON") return undefined;
      return __mc_collectionProxy(new Collection(coll.__db, `${coll.__name}.${prop}`), `${path}.${prop}`);
    },
    apply() { throw new TypeError(`${path} is not a function`); },
    has(t, prop) { return prop in coll; },
    getPrototypeOf() { return Collection.prototype; },
  });
}

// -- databases -----------------------------------------------------------------------------
class Database {
  // `conn`: which connection (0, the shell's own; others from new Mongo(uri) / connect(uri)).
  constructor(name, session, conn) { this.__name = name; this.__session = session || null; this.__conn = conn || 0; }
  __call(op, args) { return __mc_call(op, Object.assign({ conn: this.__conn }, args)); }
  getName() { return this.__name; }
  toString() { return this.__name; }
  __inspect() { return this.__name; }
  getMongo() { return __mc_connections.get(this.__conn) || __mc_mongo; }
  getSiblingDB(name) { return __mc_dbProxy(new Database(String(name), this.__session, this.__conn)); }
  getCollection(name) {
    if (typeof name !== "string" || !name) throw new MongoshError("getCollection: the collection name must be a non-empty string", "MongoshInvalidInputError");
    return __mc_collectionProxy(new Collection(this, name), `db.${name}`);
  }
  getCollectionNames() { return this.getCollectionInfos({}, { nameOnly: true }).map((c) => c.name).sort(); }
  getCollectionInfos(filter, options) { return this.__call("listCollections", { db: this.__name, filter: filter || {}, options: __mc_options(options), session: this.__session }); }
  createCollection(name, options) { return this.__call("createCollection", { db: this.__name, name, options: __mc_options(options), session: this.__session }); }
  createView(name, source, pipeline, options) { return this.createCollection(name, Object.assign({ viewOn: source, pipeline }, __mc_options(options))); }
  dropDatabase() { return this.__call("dropDatabase", { db: this.__name, session: this.__session }); }
  runCommand(command, options) {
    if (typeof command === "string") command = { [command]: 1 };
    __mc_needDoc(command, "runCommand", "the command");
    return this.__call("command", { db: this.__name, command, session: this.__session });
  }
  adminCommand(command) { return this.getSiblingDB("admin").runCommand(command); }
  aggregate(pipeline, options) {
    const self = this;
    const cursor = new Cursor(() => ({ conn: self.__conn, db: self.__name, coll: null, kind: "aggregate", pipeline, session: self.__session }), `AggregationCursor(${this.__name})`, null);
    cursor.__aggOptions = Object.assign({}, __mc_options(options));
    return cursor;
  }
  watch(pipeline, options) { return __mc_watch({ conn: this.__conn, db: this.__name, coll: null, session: this.__session }, pipeline, options, this.__name); }
  stats(scale) { return this.runCommand({ dbStats: 1, scale: typeof scale === "object" && scale ? scale.scale : scale }); }
  serverStatus(options) { return this.adminCommand(Object.assign({ serverStatus: 1 }, __mc_options(options))); }
  hello() { return this.adminCommand({ hello: 1 }); }
  isMaster() { return this.adminCommand({ isMaster: 1 }); }
  hostInfo() { return this.adminCommand({ hostInfo: 1 }); }
  serverBuildInfo() { return this.adminCommand({ buildInfo: 1 }); }
  version() { return this.serverBuildInfo().version; }
  serverCmdLineOpts() { return this.adminCommand({ getCmdLineOpts: 1 }); }
  currentOp(filter) {
    const opts = typeof filter === "boolean" ? { $all: filter } : __mc_options(filter);
    return this.adminCommand(Object.assign({ currentOp: 1 }, opts));
  }
  killOp(opid) { return this.adminCommand({ killOp: 1, op: opid }); }
  getUsers(options) { return this.runCommand(Object.assign({ usersInfo: 1 }, __mc_options(options))); }
  getUser(name) { const r = this.runCommand({ usersInfo: name }); return r.users && r.users.length ? r.users[0] : null; }
  getRoles(options) { return this.runCommand(Object.assign({ rolesInfo: 1 }, __mc_options(options))); }
  createUser(user, writeConcern) {
    const cmd = Object.assign({ createUser: user.user }, user);
    delete cmd.user;
    return this.runCommand(cmd);
  }
  updateUser(name, update) { return this.runCommand(Object.assign({ updateUser: name }, update)); }
  dropUser(name) { return this.runCommand({ dropUser: name }); }
  auth() { throw new MongoshError("auth is not supported here: put the credentials in the connection string", "MongoshUnimplementedError"); }
  getProfilingStatus() { return this.runCommand({ profile: -1 }); }
  setProfilingLevel(level, options) { return this.runCommand(Object.assign({ profile: level }, typeof options === "number" ? { slowms: options } : __mc_options(options))); }
  getLogComponents() { return this.adminCommand({ getParameter: 1, logComponentVerbosity: 1 }).logComponentVerbosity; }
  printCollectionStats() { for (const name of this.getCollectionNames()) { print(name); printjson(this.getCollection(name).stats()); print("---"); } }
  fsyncLock() { return this.adminCommand({ fsync: 1, lock: true }); }
  fsyncUnlock() { return this.adminCommand({ fsyncUnlock: 1 }); }
  listCommands() { return this.runCommand({ listCommands: 1 }); }
  commandHelp(name) { return this.runCommand({ [name]: 1, help: true }).help; }
}

const __mc_dbMethods = new Set(Object.getOwnPropertyNames(Database.prototype));

function __mc_dbProxy(database) {
  return new Proxy(database, {
    get(t, prop) {
      if (prop in t) { const v = t[prop]; return typeof v === "function" ? v.bind(t) : v; }
      if (typeof prop !== "string" || prop.startsWith("__") || prop === "then" || prop === "toJSON") return undefined;
      return t.getCollection(prop);
    },
    set(t, prop, value) { t[prop] = value; return true; },
  });
}

// -- sessions ------------------------------------------------------------------------------
class Session {
  constructor(options, conn) {
    this.__conn = conn || 0;
    this.__id = __mc_call("startSession", { conn: this.__conn, options: __mc_options(options) });
    this.__ended = false;
  }
  getDatabase(name) { return __mc_dbProxy(new Database(String(name), this.__id, this.__conn)); }
  getSessionId() { return __mc_call("sessionInfo", { session: this.__id }).id; }
  startTransaction(options) { __mc_call("startTransaction", { session: this.__id, options: __mc_options(options) }); }
  commitTransaction() { __mc_call("commitTransaction", { session: this.__id }); }
  abortTransaction() { __mc_call("abortTransaction", { session: this.__id }); }
  // The convenient transaction API (transactions-convenient-api spec): the callback runs here, in
  // JavaScript, so the retry loop does too: the whole again on TransientTransactionError, the
  // commit again on UnknownTransactionCommitResult (not after MaxTimeMSExpired), for up to 120 s.
  withTransaction(fn, options) {
    if (typeof fn !== "function") throw new MongoshError("withTransaction: the first argument must be a function", "MongoshInvalidInputError");
    const deadline = Date.now() + 120000;
    const labelled = (e, label) => !!(e && Array.isArray(e.errorLabels) && e.errorLabels.includes(label));
    for (;;) {
      this.startTransaction(options);
      let result;
      try {
        result = fn(this);
      } catch (e) {
        this.abortTransaction();
        if (labelled(e, "TransientTransactionError") && Date.now() < deadline) continue;
        throw e;
      }
      for (;;) {
        try {
          this.commitTransaction();
          return result;
        } catch (e) {
          const unknown = labelled(e, "UnknownTransactionCommitResult") && e.codeName !== "MaxTimeMSExpired";
          if (unknown && Date.now() < deadline) continue;
          if (labelled(e, "TransientTransactionError") && Date.now() < deadline) break;
          throw e;
        }
      }
    }
  }
  endSession() { if (!this.__ended) __mc_call("endSession", { session: this.__id }); this.__ended = true; }
  hasEnded() { return this.__ended; }
  __inspect() { return __mc_inspect(this.getSessionId()); }
}

// Mongo.bulkWrite's result as mongosh shows it (ClientBulkWriteResult; per-model Maps only with verboseResults).
function __mc_clientBulkResult(r) {
  const out = { acknowledged: r.acknowledged, insertedCount: r.insertedCount, matchedCount: r.matchedCount,
    modifiedCount: r.modifiedCount, deletedCount: r.deletedCount, upsertedCount: r.upsertedCount,
    insertResults: undefined, updateResults: undefined, deleteResults: undefined };
  for (const key of ["insertResults", "updateResults", "deleteResults"]) if (r[key]) out[key] = new Map(r[key]);
  return out;
}

// -- the connection ------------------------------------------------------------------------
// new Mongo(uri) opens another connection, as mongosh's does (mongodb://127.0.0.1:27017 when no
// URI is given); db.getMongo() is the shell's own (__mc_mongo, connection 0).
const __mc_connections = new Map();
class Mongo {
  constructor(uri) {
    const opened = __mc_call("connect", { uri: uri === undefined ? "mongodb://127.0.0.1:27017/" : String(uri) });
    this.__conn = opened.conn;
    this.__defaultDb = opened.db;
    __mc_connections.set(this.__conn, this);
  }
  __call(op, args) { return __mc_call(op, Object.assign({ conn: this.__conn || 0 }, args)); }
  getDB(name) { return __mc_dbProxy(new Database(String(name), null, this.__conn || 0)); }
  getDBNames() { return this.__call("listDatabases", {}).databases.map((d) => d.name); }
  getDBs() { return this.__call("listDatabases", {}); }
  startSession(options) { return new Session(options, this.__conn || 0); }
  getURI() { return this.__call("connectionInfo", {}).uri; }
  close() {
    if (!this.__conn) return;  // the shell's own connection lives as long as the shell
    this.__call("closeConnection", {});
    __mc_connections.delete(this.__conn);
  }
  getReadPrefMode() { return "primary"; }
  setReadPref() { throw new MongoshError("setReadPref is not supported yet: put readPreference in the connection string", "MongoshUnimplementedError"); }
  watch(pipeline, options) { return __mc_watch({ conn: this.__conn || 0, db: "admin", coll: null, cluster: true }, pipeline, options, this.getURI()); }
  bulkWrite(models, options) {
    if (!Array.isArray(models)) throw new MongoshError("Mongo.bulkWrite: the models must be an array", "MongoshInvalidInputError");
    const session = options && options.session instanceof Session ? options.session.__id : null;
    const rest = Object.assign({}, __mc_options(options));
    delete rest.session;
    return __mc_clientBulkResult(this.__call("clientBulkWrite", { models, options: rest, session }));
  }
  __inspect() { return this.getURI(); }  // mongosh shows a Mongo as its connection string
}
const __mc_mongo = Object.create(Mongo.prototype);

// -- replica sets and sharding -------------------------------------------------------------
function __mc_admin() { return __mc_dbProxy(new Database("admin")); }

function __mc_duration(secs) { return `${secs} secs (${Math.round(secs / 36) / 100} hrs)`; }

const rs = {
  status() { return __mc_admin().runCommand({ replSetGetStatus: 1 }); },
  conf() { return __mc_admin().runCommand({ replSetGetConfig: 1 }).config; },
  config() { return this.conf(); },
  isMaster() { return __mc_admin().runCommand({ isMaster: 1 }); },
  hello() { return __mc_admin().runCommand({ hello: 1 }); },
  stepDown(stepDownSecs, catchUpSecs) {
    const cmd = { replSetStepDown: stepDownSecs === undefined ? 60 : stepDownSecs };
    if (catchUpSecs !== undefined) cmd.secondaryCatchUpPeriodSecs = catchUpSecs;
    return __mc_admin().runCommand(cmd);
  },
  freeze(secs) { return __mc_admin().runCommand({ replSetFreeze: secs }); },
  syncFrom(host) { return __mc_admin().runCommand({ replSetSyncFrom: host }); },
  reconfig(config, options) { return __mc_admin().runCommand(Object.assign({ replSetReconfig: config }, __mc_options(options))); },
  initiate(config) { return __mc_admin().runCommand({ replSetInitiate: config || {} }); },
  printReplicationInfo() {
    const oplog = __mc_dbProxy(new Database("local")).getCollection("oplog.rs");
    const first = oplog.find({}).sort({ $natural: 1 }).limit(1).toArray()[0];
    const last = oplog.find({}).sort({ $natural: -1 }).limit(1).toArray()[0];
    if (!first || !last) throw new MongoshError("printReplicationInfo: no oplog (local.oplog.rs is empty or missing)", "MongoshRuntimeError");
    const stats = oplog.stats();
    const t1 = first.ts.t, t2 = last.ts.t;
    print("actual oplog size");
    print(`'${((stats.size || 0) / 1048576).toFixed(2)} MB'`);
    print("---");
    print("configured oplog size");
    print(`'${((stats.maxSize || stats.storageSize || 0) / 1048576).toFixed(2)} MB'`);
    print("---");
    print("log length start to end");
    print(`'${__mc_duration(t2 - t1)}'`);
    print("---");
    print("oplog first event time");
    print(`'${new Date(t1 * 1000).toString()}'`);
    print("---");
    print("oplog last event time");
    print(`'${new Date(t2 * 1000).toString()}'`);
    print("---");
    print("now");
    print(`'${new Date().toString()}'`);
  },
  printSecondaryReplicationInfo() {
    const status = this.status();
    const primary = status.members.find((m) => m.stateStr === "PRIMARY");
    for (const m of status.members) {
      if (m.stateStr !== "SECONDARY") continue;
      print(`source: ${m.name}`);
      const lag = primary && m.optimeDate && primary.optimeDate ? Math.round((primary.optimeDate - m.optimeDate) / 1000) : 0;
      print(__mc_inspect({ syncedTo: m.optimeDate ? m.optimeDate.toString() : "unknown", replLag: `${__mc_duration(lag)} behind the primary ` }));
      print("---");
    }
  },
  printSlaveReplicationInfo() { return this.printSecondaryReplicationInfo(); },
  __inspect() { return "ReplicaSet class connected to " + __mc_call("connectionInfo", {}).uri; },
};

const sh = {
  __mongos() {
    const hello = __mc_admin().runCommand({ hello: 1 });
    if (hello.msg !== "isdbgrid") throw new MongoshError("sh.status: not connected to a mongos (the sharding helpers need a sharded cluster)", "MongoshInvalidInputError");
  },
  status() {
    this.__mongos();
    const config = __mc_dbProxy(new Database("config"));
    const version = config.getCollection("version").findOne();
    if (version === null) {
      throw new MongoshError("[SHAPI-10003] This db does not have sharding enabled. Be sure you are connecting to a mongos from the shell and not to a mongod.", "MongoshInvalidInputError");
    }
    const shards = config.getCollection("shards").find().sort({ _id: 1 }).toArray();  // as mongosh reads them
    const databases = config.getCollection("databases").find().sort({ _id: 1 }).toArray();
    print("shardingVersion");
    print(__mc_inspect(version));
    print("---");
    print("shards");
    print(__mc_inspect(shards));
    print("---");
    print("databases");
    print(__mc_inspect(databases));
  },
  addShard(url) { this.__mongos(); return __mc_admin().runCommand({ addShard: url }); },
  enableSharding(dbName) { this.__mongos(); return __mc_admin().runCommand({ enableSharding: dbName }); },
  shardCollection(ns, key, unique) { this.__mongos(); return __mc_admin().runCommand({ shardCollection: ns, key, unique: !!unique }); },
  getBalancerState() { this.__mongos(); return !!__mc_admin().runCommand({ balancerStatus: 1 }).mode !== "off"; },
};
