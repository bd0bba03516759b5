// The Unicode general category of every code point as node's RegExp sees it (the same tables
// that @huggingface/tokenizers' regexes use in this runtime), for Hearth's parity tests.
//
//   node unicode_categories.mjs OUTPUT
//
// OUTPUT: a first line "unicode VERSION" (process.versions.unicode), then one line per run of
// code points with the same category: "FIRST LAST CATEGORY" (hex, hex, short alias such as Lu,
// Cn for unassigned), covering U+0000..U+10FFFF in order.
import { writeFileSync } from "node:fs";

const [outputPath] = process.argv.slice(2);
if (!outputPath) {
  console.error("usage: node unicode_categories.mjs OUTPUT");
  process.exit(2);
}
const categories = ["Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe", "Pi",
                    "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn"];
const tests = categories.map((c) => [c, new RegExp(`^\\p{General_Category=${c}}$`, "u")]);
// A lone surrogate is a string of one code unit; the "u" flag sees it as the code point itself.
const categoryOf = (cp) => {
  const text = String.fromCodePoint(cp);
  for (const [name, re] of tests) if (re.test(text)) return name;
  throw new Error(`U+${cp.toString(16)} has no general category`);
};
const lines = [`unicode ${process.versions.unicode}`];
let first = 0;
let current = categoryOf(0);
for (let cp = 1; cp <= 0x110000; ++cp) {
  const category = cp <= 0x10ffff ? categoryOf(cp) : null;
  if (category !== current) {
    lines.push(`${first.toString(16)} ${(cp - 1).toString(16)} ${current}`);
    first = cp;
    current = category;
  }
}
writeFileSync(outputPath, lines.join("\n") + "\n");
