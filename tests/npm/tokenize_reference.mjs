// Reference tokenizer for Hearth's parity tests: runs @huggingface/tokenizers on a Hugging Face
// tokenizer.json (+ tokenizer_config.json) and writes, for each input, the ids and their decoding.
//
//   node tokenize_reference.mjs MODEL_DIR INPUTS OUTPUT [--no-special-tokens]
//
// INPUTS: one input per line, as hex bytes (any text survives). OUTPUT: per input, one line
// "id id id ...<TAB>hex of decode(ids)". Encoding uses HF defaults (add_special_tokens true,
// special-token texts parsed) unless --no-special-tokens (then add_special_tokens false).
// Decoding keeps special tokens and never "cleans up" spaces, so it can be compared byte for byte.
import { readFileSync, writeFileSync } from "node:fs";
import { Tokenizer } from "@huggingface/tokenizers";

const [dir, inputsPath, outputPath, ...flags] = process.argv.slice(2);
if (!dir || !inputsPath || !outputPath) {
  console.error("usage: node tokenize_reference.mjs MODEL_DIR INPUTS OUTPUT [--no-special-tokens]");
  process.exit(2);
}
const addSpecial = !flags.includes("--no-special-tokens");
const tokenizerJson = JSON.parse(readFileSync(`${dir}/tokenizer.json`, "utf8"));
let config = {};
try {
  config = JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, "utf8"));
} catch {
  // tokenizer_config.json is optional
}
const tokenizer = new Tokenizer(tokenizerJson, config);
// Ill-formed bytes -> U+FFFD; a leading U+FEFF is text like any other (not a BOM to drop).
const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
const lines = readFileSync(inputsPath, "utf8").split("\n");
const out = [];
for (const line of lines) {
  if (line.length === 0) continue;
  const text = decoder.decode(Buffer.from(line === "-" ? "" : line, "hex"));
  const ids = tokenizer.encode(text, { add_special_tokens: addSpecial }).ids;
  const decoded = tokenizer.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  out.push(`${ids.join(" ")}\t${Buffer.from(decoded, "utf8").toString("hex")}`);
}
writeFileSync(outputPath, out.join("\n") + (out.length ? "\n" : ""));
