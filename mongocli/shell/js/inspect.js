// mongosh's output format: Node's util.inspect as mongosh configures it (depth 6, compact 3,
// breakLength 80, maxArrayLength 100), with BSON types spelled as mongosh spells them.
// `colors` (set by the engine when stdout is a terminal and NO_COLOR is unset) styles values
// as Node's inspect.styles do in mongosh: strings green, numbers and booleans yellow, null
// bold, undefined grey, regular expressions red, functions and [Object] cyan; plain keys and
// ISODate(...) stay uncoloured, quoted keys are strings.
"use strict";

const __mc_inspectOptions = { depth: 6, compact: 3, breakLength: 80, maxArrayLength: 100, colors: false };

// Node's util.inspect.styles -> its SGR (on, off) codes.
const __mc_styles = {
  special: [36, 39], number: [33, 39], bigint: [33, 39], boolean: [33, 39], undefined: [90, 39],
  null: [1, 22], string: [32, 39], symbol: [32, 39], date: [35, 39], regexp: [31, 39],
};

function __mc_stylize(ctx, text, style) {
  const codes = ctx.colors && __mc_styles[style];
  return codes ? `\x1b[${codes[0]}m${text}\x1b[${codes[1]}m` : text;
}

// The printed width: line breaking and column alignment ignore colour codes (as Node's do).
function __mc_width(ctx, text) {
  return ctx.colors ? text.replace(/\x1b\[\d+m/g, "").length : text.length;
}

function __mc_strEscape(s) {
  let quote = "'";
  if (s.includes("'")) {
    if (!s.includes('"')) quote = '"';
    else if (!s.includes("`") && !s.includes("${")) quote = "`";
  }
  let out = "";
  for (const ch of s) {
    const code = ch.codePointAt(0);
    if (ch === quote || ch === "\\") out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\b") out += "\\b";
    else if (ch === "\f") out += "\\f";
    else if (ch === "\v") out += "\\v";
    else if (code < 0x20 || code === 0x7f) out += "\\x" + code.toString(16).toUpperCase().padStart(2, "0");
    else out += ch;
  }
  return quote + out + quote;
}

function __mc_key(ctx, k) {
  return /^[a-zA-Z_][a-zA-Z_0-9]*$/.test(k) ? k : __mc_stylize(ctx, __mc_strEscape(k), "string");
}

function __mc_isBelowBreakLength(ctx, output, start, base) {
  let total = output.length + start;
  if (total + output.length > ctx.breakLength) return false;
  for (const entry of output) {
    total += __mc_width(ctx, entry);
    if (total > ctx.breakLength) return false;
  }
  return base === "" || !base.includes("\n");
}

function __mc_groupArrayElements(ctx, output, value) {
  let totalLength = 0, maxLength = 0;
  let outputLength = output.length;
  if (ctx.extraEntry) outputLength--;
  const separatorSpace = 2;
  const dataLen = new Array(outputLength);
  for (let i = 0; i < outputLength; i++) {
    const len = __mc_width(ctx, output[i]);
    dataLen[i] = len;
    totalLength += len + separatorSpace;
    if (maxLength < len) maxLength = len;
  }
  const actualMax = maxLength + separatorSpace;
  if (actualMax * 3 + ctx.indentationLvl < ctx.breakLength &&
      (totalLength / actualMax > 5 || maxLength <= 6)) {
    const averageBias = Math.sqrt(actualMax - totalLength / output.length);
    const biasedMax = Math.max(actualMax - 3 - averageBias, 1);
    const columns = Math.min(
      Math.round(Math.sqrt(2.5 * biasedMax * outputLength) / biasedMax),
      Math.floor((ctx.breakLength - ctx.indentationLvl) / actualMax),
      ctx.compact * 4,
      15);
    if (columns <= 1) return output;
    const tmp = [];
    const maxLineLength = [];
    for (let i = 0; i < columns; i++) {
      let lineLength = 0;
      for (let j = i; j < output.length; j += columns) if (dataLen[j] > lineLength) lineLength = dataLen[j];
      maxLineLength.push(lineLength + separatorSpace);
    }
    let padStart = true;
    if (value !== undefined) {
      for (let i = 0; i < output.length; i++) {
        if (typeof value[i] !== "number" && typeof value[i] !== "bigint") { padStart = false; break; }
      }
    }
    for (let i = 0; i < outputLength; i += columns) {
      const max = Math.min(i + columns, outputLength);
      let str = "";
      let j = i;
      for (; j < max - 1; j++) {
        const cell = `${output[j]}, `;
        const padding = maxLineLength[j - i] + output[j].length - dataLen[j];  // colour codes take no room
        str += padStart ? cell.padStart(padding, " ") : cell.padEnd(padding, " ");
      }
      if (padStart) str += output[j].padStart(maxLineLength[j - i] + output[j].length - dataLen[j] - separatorSpace, " ");
      else str += output[j];
      tmp.push(str);
    }
    if (ctx.extraEntry) tmp.push(output[outputLength]);
    return tmp;
  }
  return output;
}

function __mc_reduceToSingleString(ctx, output, base, braces, isArray, recurseTimes, value) {
  const entries = output.length;
  if (typeof ctx.compact === "number" && isArray && entries > 6) output = __mc_groupArrayElements(ctx, output, value);
  if (typeof ctx.compact === "number" && ctx.currentDepth - recurseTimes < ctx.compact && entries === output.length) {
    const start = output.length + ctx.indentationLvl + braces[0].length + base.length + 10;
    if (__mc_isBelowBreakLength(ctx, output, start, base)) {
      const joined = output.join(", ");
      if (!joined.includes("\n")) return `${base ? `${base} ` : ""}${braces[0]} ${joined} ${braces[1]}`;
    }
  }
  const indentation = `\n${" ".repeat(ctx.indentationLvl)}`;
  return `${base ? `${base} ` : ""}${braces[0]}${indentation}  ${output.join(`,${indentation}  `)}${indentation}${braces[1]}`;
}

function __mc_formatPrimitive(ctx, v) {
  switch (typeof v) {
    case "string": return __mc_stylize(ctx, __mc_strEscape(v), "string");
    case "number": return __mc_stylize(ctx, Object.is(v, -0) ? "-0" : String(v), "number");
    case "bigint": return __mc_stylize(ctx, `${v}n`, "bigint");
    case "boolean": return __mc_stylize(ctx, String(v), "boolean");
    case "undefined": return __mc_stylize(ctx, "undefined", "undefined");
    case "symbol": return __mc_stylize(ctx, v.toString(), "symbol");
  }
  return null;
}

function __mc_formatValue(ctx, v, recurseTimes) {
  if (v === null) return __mc_stylize(ctx, "null", "null");
  if (typeof v !== "object" && typeof v !== "function") return __mc_formatPrimitive(ctx, v);
  // Before the function check: a collection is a callable Proxy that inspects as its namespace.
  // BSON values format their parts with `fmt` (ObjectId('...') has a green string inside, as in mongosh).
  if (typeof v.__inspect === "function") {
    return v.__inspect((x) => __mc_formatValue(ctx, x, recurseTimes), (text, style) => __mc_stylize(ctx, text, style));
  }
  if (typeof v === "function") {
    const src = Function.prototype.toString.call(v);
    if (src.startsWith("class")) return __mc_stylize(ctx, `[class ${v.name || "(anonymous)"}]`, "special");
    return __mc_stylize(ctx, v.name ? `[Function: ${v.name}]` : "[Function (anonymous)]", "special");
  }
  if (v instanceof Date) {
    return Number.isNaN(v.getTime()) ? __mc_stylize(ctx, "Invalid Date", "date") : `ISODate('${v.toISOString()}')`;
  }
  if (v instanceof RegExp) return __mc_stylize(ctx, String(v), "regexp");
  if (v instanceof Error) {
    return v.stack && typeof v.stack === "string" && v.stack.length ? `${v.name}: ${v.message}` : String(v);
  }
  if (ctx.seen.includes(v)) return __mc_stylize(ctx, "[Circular *1]", "special");
  const isArray = Array.isArray(v);
  if (recurseTimes > ctx.depth) return __mc_stylize(ctx, isArray ? "[Array]" : "[Object]", "special");
  let base = "";
  let braces;
  if (isArray) {
    braces = ["[", "]"];
    if (v.length === 0) return "[]";
  } else if (v instanceof Map || v instanceof Set) {
    braces = [`${v instanceof Map ? "Map" : "Set"}(${v.size}) {`, "}"];
    if (v.size === 0) return `${braces[0]}}`;
  } else {
    const proto = Object.getPrototypeOf(v);
    const ctorName = proto === null ? null : proto.constructor && proto.constructor.name;
    const prefix = proto === null ? "[Object: null prototype] " : ctorName && ctorName !== "Object" ? `${ctorName} ` : "";
    braces = [`${prefix}{`, "}"];
    if (Object.keys(v).length === 0) return `${prefix}{}`;
  }
  ctx.seen.push(v);
  ctx.currentDepth = recurseTimes;
  const output = [];
  ctx.indentationLvl += 2;
  ctx.extraEntry = false;
  if (isArray) {
    const shown = Math.min(v.length, ctx.maxArrayLength);
    for (let i = 0; i < shown; i++) output.push(i in v ? __mc_formatValue(ctx, v[i], recurseTimes + 1)
                                                 : __mc_stylize(ctx, "<1 empty item>", "undefined"));
    const extraKeys = Object.keys(v).filter((k) => !/^\d+$/.test(k));
    for (const k of extraKeys) output.push(`${__mc_key(ctx, k)}: ${__mc_formatValue(ctx, v[k], recurseTimes + 1)}`);
    if (v.length > shown) output.push(`... ${v.length - shown} more item${v.length - shown > 1 ? "s" : ""}`);
  } else if (v instanceof Map) {
    for (const [k, val] of v) output.push(`${__mc_formatValue(ctx, k, recurseTimes + 1)} => ${__mc_formatValue(ctx, val, recurseTimes + 1)}`);
  } else if (v instanceof Set) {
    for (const val of v) output.push(__mc_formatValue(ctx, val, recurseTimes + 1));
  } else {
    for (const k of Object.keys(v)) output.push(`${__mc_key(ctx, k)}: ${__mc_formatValue(ctx, v[k], recurseTimes + 1)}`);
  }
  ctx.indentationLvl -= 2;
  ctx.seen.pop();
  ctx.extraEntry = isArray && v.length > ctx.maxArrayLength;
  const result = __mc_reduceToSingleString(ctx, output, base, braces, isArray, recurseTimes, isArray ? v : undefined);
  ctx.extraEntry = false;
  return result;
}

// The text mongosh prints for a value: top-level strings bare, everything else inspected.
function __mc_inspect(value, options) {
  const ctx = Object.assign({ seen: [], indentationLvl: 0, currentDepth: 0, extraEntry: false }, __mc_inspectOptions, options || {});
  return __mc_formatValue(ctx, value, 0);
}

function __mc_display(value) {
  return typeof value === "string" ? value : __mc_inspect(value);
}
