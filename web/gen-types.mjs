// Generates web/src/api-types.ts, the TypeScript types of the HTTP API, from the server's
// OpenAPI 3.1 document (`cairn openapi`, the same as GET /api/openapi.json: the routes of
// crates/server/src/openapi.rs, the bodies from the model's `schemars` derives), so the
// dashboard's types cannot drift from what the server answers.
//
//   node web/gen-types.mjs [CAIRN_BIN | DOC.json]           write web/src/api-types.ts
//   node web/gen-types.mjs --check [CAIRN_BIN | DOC.json]   exit 1 if it differs
//
// CAIRN_BIN defaults to target/debug/cairn (`cargo build -p cairn`); a path ending in
// .json is read as the document itself. The output is deterministic (no dates, versions
// or paths) and committed; scripts/test runs --check.
//
// The layout is openapi-typescript's (`components["schemas"]["Rate"]`, `paths[path][method]`),
// but the bodies are the JSON types themselves: `requestBody` and `responses["2XX"]` are
// the body's type (`never`: no body). That tool is not used because it needs the
// TypeScript 5 compiler API, which TypeScript 7 (web/package.json) no longer has. This
// one handles the JSON Schema that `schemars` writes and fails on any keyword that would
// change a type and that it does not know, rather than guess.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = dirname(fileURLToPath(import.meta.url));
const REPO = join(ROOT, "..");
export const OUT = join(ROOT, "src", "api-types.ts");

// Keywords that only annotate or validate: they do not change the TypeScript type.
const IGNORED = new Set([
  "description", "title", "default", "examples", "example", "format", "minimum", "maximum",
  "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "pattern", "minLength", "maxLength",
  "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties", "readOnly",
  "writeOnly", "deprecated", "$schema", "$comment", "contentEncoding", "contentMediaType",
]);
// Keywords this generator turns into types.
const HANDLED = new Set([
  "$ref", "type", "const", "enum", "oneOf", "anyOf", "allOf", "items", "prefixItems",
  "properties", "required", "additionalProperties",
]);
const SHAPING = ["type", "const", "enum", "oneOf", "anyOf", "allOf", "items", "prefixItems", "properties", "additionalProperties"];
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
// The longest tuple written out ([T, T]) for items with minItems = maxItems.
const MAX_TUPLE = 8;
const WIDTH = 100;

class SchemaError extends Error {}

/** A JSDoc comment (description and default) at `ind`, or "" when there is nothing to say. */
function doc(s, ind) {
  if (!s || typeof s !== "object") return "";
  const lines = [];
  if (typeof s.description === "string" && s.description.trim()) lines.push(...s.description.trim().split("\n"));
  if ("default" in s) lines.push(`@default ${JSON.stringify(s.default)}`);
  if (!lines.length) return "";
  const esc = lines.map((l) => l.replace(/\*\//g, "*\\/").trimEnd());
  if (esc.length === 1) return `${ind}/** ${esc[0]} */\n`;
  return `${ind}/**\n${esc.map((l) => (l ? `${ind} * ${l}` : `${ind} *`)).join("\n")}\n${ind} */\n`;
}

const key = (k) => (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? k : JSON.stringify(k));
const literal = (v) => (v === null ? "null" : typeof v === "object" ? fail(`a non-scalar const or enum value: ${JSON.stringify(v)}`) : JSON.stringify(v));
function fail(msg) {
  throw new SchemaError(msg);
}

function ref(r) {
  const m = /^#\/components\/schemas\/([^/]+)$/.exec(r);
  if (!m) fail(`a $ref outside #/components/schemas: ${r}`);
  return `components["schemas"][${JSON.stringify(m[1])}]`;
}

/** A union of members (each {text, schema}); multi-line, one member a line with its
 * description, when a member is multi-line or described or the line would be long. */
function union(members, ind) {
  const seen = new Set();
  const uniq = members.filter((m) => (seen.has(m.text) ? false : (seen.add(m.text), true)));
  if (uniq.length === 1) return uniq[0].text;
  const oneLine = uniq.map((m) => (m.text.includes(" & ") ? `(${m.text})` : m.text)).join(" | ");
  const described = uniq.some((m) => doc(m.schema, "") !== "");
  if (!oneLine.includes("\n") && !described && ind.length + oneLine.length <= WIDTH) return oneLine;
  const inner = ind + "  ";
  return uniq.map((m) => `\n${doc(m.schema, inner)}${inner}| ${m.text.startsWith("\n") ? `(${m.text}\n${inner})` : m.text}`).join("");
}

/** The members of a union written at `ind` (multi-line members are indented past "| "). */
const members = (list, ind) => list.map((s) => ({ text: type(s, ind + "    "), schema: s }));

/** The TypeScript type of a schema; multi-line types close at `ind`. */
export function type(s, ind = "") {
  if (s === true || (s && typeof s === "object" && Object.keys(s).every((k) => IGNORED.has(k)))) return "unknown";
  if (s === false) return "never";
  if (!s || typeof s !== "object" || Array.isArray(s)) fail(`not a schema: ${JSON.stringify(s)}`);
  for (const k of Object.keys(s)) if (!IGNORED.has(k) && !HANDLED.has(k)) fail(`the keyword "${k}" is not supported (in ${JSON.stringify(s).slice(0, 200)})`);

  // A $ref with siblings that shape the type (a tagged variant: the result and its
  // `type`) is their intersection.
  if (s.$ref !== undefined) {
    const rest = Object.fromEntries(Object.entries(s).filter(([k]) => k !== "$ref"));
    if (!SHAPING.some((k) => k in rest)) return ref(s.$ref);
    const more = type(Object.fromEntries(Object.entries(rest).filter(([k]) => !IGNORED.has(k))), ind);
    return `${ref(s.$ref)} & ${more}`;
  }
  if (s.allOf) {
    const rest = Object.fromEntries(Object.entries(s).filter(([k]) => k !== "allOf"));
    const parts = s.allOf.map((x) => type(x, ind));
    if (SHAPING.some((k) => k in rest)) parts.push(type(rest, ind));
    return parts.map((p) => (p.startsWith("\n") ? `(${p}\n${ind})` : p)).join(" & ");
  }
  for (const k of ["oneOf", "anyOf"]) {
    if (s[k]) {
      const rest = Object.fromEntries(Object.entries(s).filter(([x]) => x !== k && !IGNORED.has(x)));
      if (Object.keys(rest).length) fail(`${k} with siblings ${Object.keys(rest).join(", ")} is not supported`);
      if (!Array.isArray(s[k]) || !s[k].length) fail(`${k} is not a non-empty array`);
      return s[k].length === 1 ? type(s[k][0], ind) : union(members(s[k], ind), ind);
    }
  }
  if ("const" in s) return literal(s.const);
  if (s.enum) return union(s.enum.map((v) => ({ text: literal(v), schema: null })), ind);

  const types = s.type === undefined ? (s.properties || s.additionalProperties !== undefined ? ["object"] : s.items || s.prefixItems ? ["array"] : []) : [].concat(s.type);
  if (!types.length) return "unknown";
  if (types.length === 1) return single(types[0], s, ind);
  return union(types.map((t) => ({ text: single(t, s, ind + "    "), schema: null })), ind);
}

function single(t, s, ind) {
  switch (t) {
    case "string": return "string";
    case "integer":
    case "number": return "number";
    case "boolean": return "boolean";
    case "null": return "null";
    case "array": return array(s, ind);
    case "object": return object(s, ind);
    default: return fail(`unknown type "${t}"`);
  }
}

function array(s, ind) {
  const wrap = (t) => (t.startsWith("\n") ? `Array<${t}\n${ind}>` : /[|&]/.test(t) && !t.startsWith("{") ? `(${t})[]` : `${t}[]`);
  if (s.prefixItems) {
    const fixed = s.prefixItems.map((x) => type(x, ind));
    const rest = s.items === false || s.items === undefined ? [] : [`...${wrap(type(s.items, ind))}`];
    return `[${[...fixed, ...rest].join(", ")}]`;
  }
  const item = s.items === undefined ? "unknown" : type(s.items, ind);
  if (Number.isInteger(s.minItems) && s.minItems === s.maxItems && s.minItems <= MAX_TUPLE) {
    return `[${Array(s.minItems).fill(item).join(", ")}]`;
  }
  return wrap(item);
}

function object(s, ind) {
  const props = s.properties || {};
  const required = new Set(s.required || []);
  for (const r of required) if (!(r in props)) fail(`required "${r}" is not among the properties`);
  const inner = ind + "  ";
  const lines = [];
  for (const [k, v] of Object.entries(props)) {
    const t = type(v, inner);
    lines.push(`${doc(v, inner)}${inner}${key(k)}${required.has(k) ? "" : "?"}:${t.startsWith("\n") ? t : ` ${t}`};`);
  }
  const ap = s.additionalProperties;
  if (!Object.keys(props).length && ap !== false) {
    const t = ap === undefined ? "unknown" : type(ap, inner);
    return t.includes("\n") ? `{\n${inner}[key: string]:${t.startsWith("\n") ? t : ` ${t}`};\n${ind}}` : `Record<string, ${t}>`;
  }
  if (ap !== undefined && ap !== false) {
    // An index signature must admit the named properties' types too.
    const t = Object.keys(props).length ? "unknown" : type(ap, inner);
    lines.push(`${inner}[key: string]:${t.startsWith("\n") ? t : ` ${t}`};`);
  }
  if (!lines.length) return "Record<string, never>";
  return `{\n${lines.join("\n")}\n${ind}}`;
}

/** The JSON body type of a request body or response object. */
function body(b, ind) {
  const content = b && b.content;
  if (!content || !Object.keys(content).length) return "never";
  const json = content["application/json"];
  if (!json) fail(`a body without application/json: ${Object.keys(content).join(", ")}`);
  return json.schema === undefined ? "unknown" : type(json.schema, ind);
}

function operation(op, ind) {
  const inner = ind + "  ";
  const out = [];
  const byIn = new Map();
  for (const p of op.parameters || []) {
    if (p.$ref) fail(`a parameter $ref is not supported: ${p.$ref}`);
    if (!byIn.has(p.in)) byIn.set(p.in, []);
    byIn.get(p.in).push(p);
  }
  const where = ["path", "query", "header", "cookie"].filter((w) => byIn.has(w));
  if (where.length) {
    const lines = where.map((w) => {
      const ps = byIn.get(w).map((p) => `${key(p.name)}${p.required ? "" : "?"}: ${type(p.schema || {}, inner + "  ")}`);
      return `${inner}  ${w}: { ${ps.join("; ")} };`;
    });
    out.push(`${inner}parameters: {\n${lines.join("\n")}\n${inner}};`);
  } else out.push(`${inner}parameters?: never;`);
  if (op.requestBody) {
    if (op.requestBody.$ref) fail(`a requestBody $ref is not supported: ${op.requestBody.$ref}`);
    const t = body(op.requestBody, inner);
    out.push(`${doc(op.requestBody, inner)}${inner}requestBody${op.requestBody.required ? "" : "?"}:${t.startsWith("\n") ? t : ` ${t}`};`);
  } else out.push(`${inner}requestBody?: never;`);
  const codes = Object.keys(op.responses || {}).sort();
  const rs = codes.map((c) => {
    const r = op.responses[c];
    if (r.$ref) fail(`a response $ref is not supported: ${r.$ref}`);
    const t = body(r, inner + "  ");
    return `${doc(r, inner + "  ")}${inner}  ${JSON.stringify(c)}:${t.startsWith("\n") ? t : ` ${t}`};`;
  });
  out.push(`${inner}responses: {\n${rs.join("\n")}\n${inner}};`);
  return `{\n${out.join("\n")}\n${ind}}`;
}

/** The file's text for an OpenAPI document. */
export function generate(d) {
  if (typeof d.openapi !== "string" || !d.openapi.startsWith("3.1")) fail(`not an OpenAPI 3.1 document (openapi: ${JSON.stringify(d.openapi)})`);
  const head = [
    "// Generated by web/gen-types.mjs from the server's OpenAPI document (`cairn openapi`, the",
    "// same as GET /api/openapi.json; the bodies come from the model's schemars derives).",
    "// Do not edit: after changing the API, regenerate and commit it:",
    "//",
    "//   cargo build -p cairn && node web/gen-types.mjs target/debug/cairn",
    "//",
    "// scripts/test fails while it is stale (node web/gen-types.mjs --check target/debug/cairn).",
    "// The JSON body of a request or response is `requestBody` or `responses[status]` (never:",
    "// no body); every model type is `components[\"schemas\"][name]`.",
    "",
  ].join("\n");
  const paths = Object.keys(d.paths || {}).sort().map((p) => {
    const item = d.paths[p];
    for (const k of Object.keys(item)) if (!METHODS.includes(k) && !["summary", "description", "parameters"].includes(k)) fail(`path item keyword "${k}" (${p}) is not supported`);
    if (item.parameters) fail(`path-level parameters (${p}) are not supported`);
    const ops = METHODS.filter((m) => item[m]).map((m) => {
      const op = item[m];
      return `${doc({ description: [op.summary, op.description].filter(Boolean).join("\n\n") }, "    ")}    ${m}: ${operation(op, "    ")};`;
    });
    return `  ${JSON.stringify(p)}: {\n${ops.join("\n")}\n  };`;
  });
  const schemas = d.components?.schemas || {};
  const defs = Object.keys(schemas).sort().map((n) => {
    const t = type(schemas[n], "    ");
    return `${doc(schemas[n], "    ")}    ${key(n)}:${t.startsWith("\n") ? t : ` ${t}`};`;
  });
  return `${head}
export interface paths {
${paths.join("\n")}
}

export interface components {
  schemas: {
${defs.join("\n")}
  };
}
`;
}

/** The OpenAPI document from a cairn binary (`cairn openapi`) or a .json file. */
export function load(source) {
  if (source.endsWith(".json")) return JSON.parse(readFileSync(source, "utf8"));
  let text;
  try {
    text = execFileSync(source, ["openapi"], { encoding: "utf8", maxBuffer: 64 << 20, stdio: ["ignore", "pipe", "inherit"] });
  } catch (e) {
    throw new Error(`could not run \`${source} openapi\` (${e.code || e.message}): build it with \`cargo build -p cairn\``);
  }
  return JSON.parse(text);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const args = process.argv.slice(2);
  const check = args.includes("--check");
  const rest = args.filter((a) => a !== "--check");
  if (rest.length > 1 || rest.some((a) => a.startsWith("-"))) {
    console.error("usage: node web/gen-types.mjs [--check] [CAIRN_BIN | DOC.json]");
    process.exit(2);
  }
  const source = rest[0] ? resolve(rest[0]) : join(REPO, "target", "debug", "cairn");
  const rel = (p) => relative(process.cwd(), p) || p;
  const shown = rest[0] || rel(source);
  const from = source.endsWith(".json") ? shown : `${shown} openapi`;
  const outShown = rel(OUT);
  const self = rel(fileURLToPath(import.meta.url));
  let text;
  try {
    text = generate(load(source));
  } catch (e) {
    console.error(`gen-types: ${e instanceof SchemaError ? "the OpenAPI document has what this generator does not handle: " : ""}${e.message}`);
    process.exit(1);
  }
  if (check) {
    let old = null;
    try {
      old = readFileSync(OUT, "utf8");
    } catch {}
    if (old !== text) {
      const a = (old ?? "").split("\n"), b = text.split("\n");
      let i = 0;
      while (i < a.length && i < b.length && a[i] === b[i]) i++;
      console.error(
        old === null
          ? `${outShown} is missing`
          : `${outShown} is stale: the API's OpenAPI document (${from}) gives other types.\n` +
            `  first difference, line ${i + 1}:\n    committed: ${a[i] ?? "(end of file)"}\n    generated: ${b[i] ?? "(end of file)"}`,
      );
      console.error(`Run \`node ${self} ${shown}\`, fix what no longer type-checks (tsc -p web) and commit it.`);
      process.exit(1);
    }
    console.log(`${outShown} is up to date with ${from} (${text.length} bytes)`);
  } else {
    writeFileSync(OUT, text);
    console.log(`wrote ${outShown} from ${from} (${text.length} bytes)`);
  }
}
