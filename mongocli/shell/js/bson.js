// BSON types with mongosh's names and methods, and canonical Extended JSON in and out
// (extended-json spec: canonical mode). Values read from the server become these types.
"use strict";

const __mc_b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

function __mc_b64ToBytes(text) {
  const clean = String(text).replace(/[^A-Za-z0-9+/]/g, "");
  const out = [];
  let buffer = 0, bits = 0;
  for (const ch of clean) {
    buffer = (buffer << 6) | __mc_b64chars.indexOf(ch);
    bits += 6;
    if (bits >= 8) { bits -= 8; out.push((buffer >> bits) & 0xff); }
  }
  return out;
}

function __mc_bytesToB64(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] || 0) << 8) | (bytes[i + 2] || 0);
    out += __mc_b64chars[(n >> 18) & 63] + __mc_b64chars[(n >> 12) & 63];
    out += i + 1 < bytes.length ? __mc_b64chars[(n >> 6) & 63] : "=";
    out += i + 2 < bytes.length ? __mc_b64chars[n & 63] : "=";
  }
  return out;
}

function __mc_hexToBytes(hex) {
  const out = [];
  for (let i = 0; i < hex.length; i += 2) out.push(parseInt(hex.slice(i, i + 2), 16));
  return out;
}

function __mc_bytesToHex(bytes) {
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join("");
}

class BSONError extends Error {
  constructor(message) { super(message); this.name = "BSONError"; }
}

let __mc_oidCounter = Math.floor(Math.random() * 0xffffff);
const __mc_oidProcess = Array.from({ length: 5 }, () => Math.floor(Math.random() * 256));

class ObjectIdType {
  constructor(value) {
    if (value === undefined || value === null) {
      const secs = Math.floor(Date.now() / 1000);
      __mc_oidCounter = (__mc_oidCounter + 1) & 0xffffff;
      const bytes = [(secs >>> 24) & 255, (secs >>> 16) & 255, (secs >>> 8) & 255, secs & 255,
        ...__mc_oidProcess, (__mc_oidCounter >> 16) & 255, (__mc_oidCounter >> 8) & 255, __mc_oidCounter & 255];
      this.__hex = __mc_bytesToHex(bytes);
    } else if (value instanceof ObjectIdType) {
      this.__hex = value.__hex;
    } else if (typeof value === "string" && /^[0-9a-fA-F]{24}$/.test(value)) {
      this.__hex = value.toLowerCase();
    } else if (typeof value === "number" && Number.isInteger(value)) {
      this.__hex = (value >>> 0).toString(16).padStart(8, "0") + "0000000000000000";
    } else {
      throw new BSONError("input must be a 24 character hex string, 12 byte Uint8Array, or an integer");
    }
  }
  toHexString() { return this.__hex; }
  toString() { return this.__hex; }
  toJSON() { return this.__hex; }
  equals(other) { return other != null && String(other instanceof ObjectIdType ? other.__hex : other).toLowerCase() === this.__hex; }
  getTimestamp() { return new Date(parseInt(this.__hex.slice(0, 8), 16) * 1000); }
  __ejson() { return { $oid: this.__hex }; }
  __inspect(fmt) { return `ObjectId(${fmt(this.__hex)})`; }
}
ObjectIdType.prototype.__bsontype = "ObjectId";
function ObjectId(value) { return new ObjectIdType(value); }
ObjectId.prototype = ObjectIdType.prototype;
ObjectId.isValid = (v) => typeof v === "string" ? /^[0-9a-fA-F]{24}$/.test(v) : v instanceof ObjectIdType;
ObjectId.createFromHexString = (hex) => new ObjectIdType(hex);
ObjectId.createFromTime = (secs) => new ObjectIdType(secs);

class Int32Type {
  constructor(value) { this.value = Math.trunc(Number(value === undefined ? 0 : value)) | 0; }
  valueOf() { return this.value; }
  toString() { return String(this.value); }
  toJSON() { return this.value; }
  __ejson() { return { $numberInt: String(this.value) }; }
  __inspect(fmt) { return `Int32(${fmt(this.value)})`; }
}
function NumberInt(value) { return new Int32Type(value); }
const Int32 = NumberInt;

class DoubleType {
  constructor(value) { this.value = Number(value); }
  valueOf() { return this.value; }
  toString() { return String(this.value); }
  toJSON() { return this.value; }
  __ejson() { return { $numberDouble: __mc_doubleText(this.value) }; }
  __inspect(fmt) { return `Double(${fmt(this.value)})`; }
}
function Double(value) { return new DoubleType(value); }

function __mc_doubleText(v) {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "Infinity";
  if (v === -Infinity) return "-Infinity";
  if (Object.is(v, -0)) return "-0.0";
  return Number.isInteger(v) && Math.abs(v) < 1e21 ? v.toFixed(1) : String(v);
}

class LongType {
  constructor(value) {
    if (value === undefined) value = 0;
    const text = typeof value === "bigint" ? value.toString()
      : typeof value === "number" ? String(Math.trunc(value)) : String(value).trim();
    if (!/^-?\d+$/.test(text)) throw new BSONError(`Long: '${value}' is not an integer`);
    const big = BigInt(text);
    if (big > 9223372036854775807n || big < -9223372036854775808n) throw new BSONError(`Long: ${text} is out of range`);
    this.__text = big.toString();
  }
  valueOf() { return Number(this.__text); }
  toNumber() { return Number(this.__text); }
  toBigInt() { return BigInt(this.__text); }
  toString() { return this.__text; }
  toJSON() { return this.__text; }
  equals(other) { return String(other) === this.__text; }
  __ejson() { return { $numberLong: this.__text }; }
  __inspect(fmt) { return `Long(${fmt(this.__text)})`; }
}
function NumberLong(value) {
  if (typeof value === "number") {
    __mc_warn("Warning: NumberLong: specifying a number as argument is deprecated and may lead to loss of precision, pass a string instead");
  }
  return new LongType(value);
}
const Long = NumberLong;
Long.fromNumber = (n) => new LongType(n);
Long.fromString = (s) => new LongType(s);
Long.fromBigInt = (b) => new LongType(b);

class Decimal128Type {
  constructor(value) {
    const text = String(value === undefined ? "0" : value).trim();
    if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?(Infinity|Inf|NaN)$/i.test(text)) {
      throw new BSONError(`${text} is not a valid Decimal128 string`);
    }
    this.__text = text;
  }
  toString() { return this.__text; }
  toJSON() { return { $numberDecimal: this.__text }; }
  __ejson() { return { $numberDecimal: this.__text }; }
  __inspect(fmt) { return `Decimal128(${fmt(this.__text)})`; }
}
function NumberDecimal(value) { return new Decimal128Type(value); }
const Decimal128 = NumberDecimal;
Decimal128.fromString = (s) => new Decimal128Type(s);

class BinaryType {
  constructor(bytes, subType) { this.__bytes = bytes; this.sub_type = subType || 0; }
  get buffer() { return this.__bytes.slice(); }
  length() { return this.__bytes.length; }
  base64() { return __mc_bytesToB64(this.__bytes); }
  hex() { return __mc_bytesToHex(this.__bytes); }
  toString(enc) { return enc === "hex" ? this.hex() : this.base64(); }
  toJSON() { return this.base64(); }
  toHexString() { return this.__uuidText(); }
  __uuidText() {
    const h = this.hex();
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  __ejson() { return { $binary: { base64: this.base64(), subType: this.sub_type.toString(16).padStart(2, "0") } }; }
  __inspect(fmt) {
    if (this.sub_type === 4 && this.__bytes.length === 16) return `UUID('${this.__uuidText()}')`;
    return `Binary.createFromBase64(${fmt(this.base64())}, ${fmt(this.sub_type)})`;
  }
}
function Binary(bytes, subType) { return new BinaryType(Array.from(bytes || []), subType); }
Binary.createFromBase64 = (b64, subType) => new BinaryType(__mc_b64ToBytes(b64), subType || 0);
Binary.createFromHexString = (hex, subType) => new BinaryType(__mc_hexToBytes(hex), subType || 0);
function BinData(subType, b64) { return Binary.createFromBase64(b64, subType); }
function HexData(subType, hex) { return Binary.createFromHexString(hex, subType); }
function UUID(text) {
  if (text === undefined) {
    const bytes = Array.from({ length: 16 }, () => Math.floor(Math.random() * 256));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    return new BinaryType(bytes, 4);
  }
  const hex = String(text).replace(/-/g, "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new BSONError(`UUID: '${text}' is not a 32 hex digit UUID string`);
  return new BinaryType(__mc_hexToBytes(hex), 4);
}
function MD5(hex) { return Binary.createFromHexString(hex, 5); }

class TimestampType {
  constructor(t, i) {
    if (t !== null && typeof t === "object" && !(t instanceof LongType)) { i = t.i; t = t.t; }
    this.t = Number(t || 0) >>> 0;
    this.i = Number(i || 0) >>> 0;
  }
  getTime() { return this.t; }
  getInc() { return this.i; }
  toString() { return `Timestamp({ t: ${this.t}, i: ${this.i} })`; }
  toJSON() { return { $timestamp: { t: this.t, i: this.i } }; }
  __ejson() { return { $timestamp: { t: this.t, i: this.i } }; }
  __inspect(fmt) { return `Timestamp(${fmt({ t: this.t, i: this.i })})`; }
}
function Timestamp(t, i) { return new TimestampType(t, i); }

class MinKeyType { __ejson() { return { $minKey: 1 }; } __inspect() { return "MinKey()"; } toJSON() { return { $minKey: 1 }; } }
class MaxKeyType { __ejson() { return { $maxKey: 1 }; } __inspect() { return "MaxKey()"; } toJSON() { return { $maxKey: 1 }; } }
function MinKey() { return new MinKeyType(); }
function MaxKey() { return new MaxKeyType(); }

class DBRefType {
  constructor(collection, oid, db, fields) { this.collection = collection; this.oid = oid; this.db = db; this.fields = fields || {}; }
  get $ref() { return this.collection; }
  get $id() { return this.oid; }
  get $db() { return this.db; }
  __ejson() {
    const out = { $ref: this.collection, $id: __mc_toEJ(this.oid) };
    if (this.db) out.$db = this.db;
    for (const k of Object.keys(this.fields)) out[k] = __mc_toEJ(this.fields[k]);
    return out;
  }
  __inspect(fmt) {
    return `DBRef(${fmt(this.collection)}, ${fmt(this.oid)}${this.db ? `, ${fmt(this.db)}` : ""})`;
  }
}
function DBRef(collection, oid, db) { return new DBRefType(collection, oid, db); }

class BSONRegExpType {
  constructor(pattern, options) { this.pattern = pattern; this.options = options || ""; }
  __ejson() { return { $regularExpression: { pattern: this.pattern, options: this.options } }; }
  __inspect(fmt, stylize) {
    return `BSONRegExp(${stylize(__mc_strEscape(this.pattern), "regexp")}, ${stylize(__mc_strEscape(this.options), "regexp")})`;
  }
}
function BSONRegExp(pattern, options) { return new BSONRegExpType(pattern, options); }

class CodeType {
  constructor(code, scope) { this.code = String(code); this.scope = scope; }
  __ejson() { return this.scope ? { $code: this.code, $scope: __mc_toEJ(this.scope) } : { $code: this.code }; }
  __inspect(fmt) { return `Code(${fmt(this.code)})`; }
}
function Code(code, scope) { return new CodeType(typeof code === "function" ? code.toString() : code, scope); }

function ISODate(text) {
  if (text === undefined) return new Date();
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) throw new BSONError(`${JSON.stringify(String(text))} is not a valid ISODate`);
  return d;
}

// -- canonical Extended JSON ---------------------------------------------------------------
function __mc_toEJ(v) {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case "boolean": case "string": return v;
    case "number":
      return Number.isInteger(v) && v >= -2147483648 && v <= 2147483647 && !Object.is(v, -0)
        ? { $numberInt: String(v) } : { $numberDouble: __mc_doubleText(v) };
    case "bigint": return { $numberLong: v.toString() };
    case "function": return { $code: v.toString() };
    case "symbol": return { $symbol: v.description };
  }
  if (typeof v.__ejson === "function") return v.__ejson();
  if (v instanceof Date) return { $date: { $numberLong: String(v.getTime()) } };
  if (v instanceof RegExp) {
    return { $regularExpression: { pattern: v.source, options: v.flags.replace(/[^imsux]/g, "").split("").sort().join("") } };
  }
  if (Array.isArray(v)) return v.map(__mc_toEJ);
  if (typeof v.__cursorForBridge === "function") return v.__cursorForBridge();
  const out = {};
  for (const k of Object.keys(v)) {
    if (v[k] !== undefined) out[k] = __mc_toEJ(v[k]);
  }
  return out;
}

function __mc_fromEJ(v) {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(__mc_fromEJ);
  const keys = Object.keys(v);
  const k0 = keys[0];
  if (k0 !== undefined && k0[0] === "$") {
    switch (k0) {
      case "$oid": return new ObjectIdType(v.$oid);
      case "$numberInt": return Number(v.$numberInt);
      case "$numberDouble": return Number(v.$numberDouble);
      case "$numberLong": return new LongType(v.$numberLong);
      case "$numberDecimal": return new Decimal128Type(v.$numberDecimal);
      case "$date": {
        const d = v.$date;
        return new Date(typeof d === "object" ? Number(d.$numberLong) : d);
      }
      case "$binary": return Binary.createFromBase64(v.$binary.base64, parseInt(v.$binary.subType, 16));
      case "$timestamp": return new TimestampType(v.$timestamp.t, v.$timestamp.i);
      case "$regularExpression": {
        const { pattern, options } = v.$regularExpression;
        try { return new RegExp(pattern, options.replace(/x/g, "")); } catch (e) { return new BSONRegExpType(pattern, options); }
      }
      case "$minKey": return new MinKeyType();
      case "$maxKey": return new MaxKeyType();
      case "$undefined": return undefined;
      case "$symbol": return v.$symbol;
      case "$code": return new CodeType(v.$code, v.$scope && __mc_fromEJ(v.$scope));
      case "$ref":
        if ("$id" in v) {
          const fields = {};
          for (const k of keys) if (!["$ref", "$id", "$db"].includes(k)) fields[k] = __mc_fromEJ(v[k]);
          return new DBRefType(v.$ref, __mc_fromEJ(v.$id), v.$db, fields);
        }
    }
  }
  const out = {};
  for (const k of keys) out[k] = __mc_fromEJ(v[k]);
  return out;
}

const EJSON = {
  stringify(value, replacer, space, options) {
    const relaxed = !(options && options.relaxed === false);
    return JSON.stringify(relaxed ? __mc_relax(__mc_toEJ(value)) : __mc_toEJ(value), replacer, space);
  },
  parse(text) { return __mc_fromEJ(JSON.parse(text)); },
  serialize(value, options) {
    const ej = __mc_toEJ(value);
    return options && options.relaxed === false ? ej : __mc_relax(ej);
  },
  deserialize(value) { return __mc_fromEJ(value); },
};

// Relaxed Extended JSON (extended-json spec, "relaxed mode"): numbers as JSON numbers,
// dates in range as ISO-8601 strings.
function __mc_relax(ej) {
  if (ej === null || typeof ej !== "object") return ej;
  if (Array.isArray(ej)) return ej.map(__mc_relax);
  const keys = Object.keys(ej);
  if (keys.length === 1) {
    const k = keys[0];
    if (k === "$numberInt") return Number(ej[k]);
    if (k === "$numberDouble") {
      const n = Number(ej[k]);
      return Number.isFinite(n) ? n : ej;
    }
    if (k === "$numberLong") return Number(ej[k]);
    if (k === "$date" && typeof ej[k] === "object") {
      const ms = Number(ej[k].$numberLong);
      if (ms >= 0 && ms <= 253402300799999) {
        const iso = new Date(ms).toISOString();  // bson-js leaves out ".000" for whole seconds
        return { $date: ms % 1000 === 0 ? iso.slice(0, -5) + "Z" : iso };
      }
      return ej;
    }
  }
  const out = {};
  for (const k of keys) out[k] = __mc_relax(ej[k]);
  return out;
}
