// The official `openai` npm client against `hearth-cli serve` (stories260K), for Hearth's
// server tests (tests/server/test_server_openai.cpp starts the servers).
//
//   HEARTH_URL=http://127.0.0.1:P1/v1        a server without an API key
//   HEARTH_KEYED_URL=http://127.0.0.1:P2/v1  the same with --api-key k3y
//   HEARTH_TINY_URL=http://127.0.0.1:P3/v1   --parallel 1 --max-queue 1 (to provoke 503)
//   HEARTH_TOOLS_URL=http://127.0.0.1:P4/v1  stories260K with a chat template that supports tools
//   node openai_conformance.mjs
// Prints "ok - NAME" or "not ok - NAME: why" per check; exits 1 if any failed.
import OpenAI from "openai";

const url = process.env.HEARTH_URL;
const keyedUrl = process.env.HEARTH_KEYED_URL;
const tinyUrl = process.env.HEARTH_TINY_URL;
const toolsUrl = process.env.HEARTH_TOOLS_URL;
if (!url || !keyedUrl || !tinyUrl || !toolsUrl) {
  console.error("set HEARTH_URL, HEARTH_KEYED_URL, HEARTH_TINY_URL and HEARTH_TOOLS_URL");
  process.exit(2);
}
// maxRetries 0: the SDK would otherwise retry 503s and hide them.
const client = new OpenAI({ baseURL: url, apiKey: "unused", maxRetries: 0 });
const model = "stories260K";

let failures = 0;
async function check(name, fn) {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (e) {
    failures++;
    console.log(`not ok - ${name}: ${e && e.stack ? e.stack : e}`);
  }
}
function assert(cond, message) {
  if (!cond) throw new Error(message);
}
// Runs fn, which must throw an instance of cls (and status when given).
async function expectError(fn, cls, status) {
  try {
    await fn();
  } catch (e) {
    assert(e instanceof cls, `expected ${cls.name}, got ${e && e.constructor && e.constructor.name}: ${e}`);
    if (status !== undefined) assert(e.status === status, `expected status ${status}, got ${e.status}`);
    return e;
  }
  throw new Error(`expected ${cls.name}, nothing was thrown`);
}

const messages = [
  { role: "system", content: "You tell stories." },
  { role: "user", content: "Once upon a time" },
];

await check("models.list", async () => {
  const page = await client.models.list();
  const ids = page.data.map((m) => m.id);
  assert(ids.includes(model), `models: ${JSON.stringify(ids)}`);
  const one = await client.models.retrieve(model);
  assert(one.id === model && one.object === "model", JSON.stringify(one));
});

await check("chat non-streaming with usage", async () => {
  const r = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0 });
  assert(r.object === "chat.completion", r.object);
  assert(r.choices.length === 1, "one choice");
  const c = r.choices[0];
  assert(c.message.role === "assistant" && typeof c.message.content === "string", JSON.stringify(c.message));
  assert(c.message.content.length > 0, "empty content");
  assert(["stop", "length"].includes(c.finish_reason), c.finish_reason);
  assert(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 12, JSON.stringify(r.usage));
  assert(r.usage.total_tokens === r.usage.prompt_tokens + r.usage.completion_tokens, "total");
});

await check("chat streaming equals non-streaming (greedy), usage chunk", async () => {
  const whole = await client.chat.completions.create({ model, messages, max_completion_tokens: 20, temperature: 0 });
  const stream = await client.chat.completions.create({
    model, messages, max_completion_tokens: 20, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let text = "", finish = null, usage = null, role = null, chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    for (const ch of chunk.choices) {
      if (ch.delta.role) role = ch.delta.role;
      if (ch.delta.content) text += ch.delta.content;
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  assert(role === "assistant", `role ${role}`);
  assert(chunks > 2, `chunks ${chunks}`);
  assert(text === whole.choices[0].message.content, `stream ${JSON.stringify(text)} vs ${JSON.stringify(whole.choices[0].message.content)}`);
  assert(finish === whole.choices[0].finish_reason, `finish ${finish}`);
  assert(usage && usage.completion_tokens === whole.usage.completion_tokens, `usage ${JSON.stringify(usage)}`);
});

await check("completions non-streaming and streaming", async () => {
  const r = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 10, temperature: 0 });
  assert(r.object === "text_completion", r.object);
  assert(typeof r.choices[0].text === "string" && r.choices[0].text.length > 0, "text");
  assert(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 10, JSON.stringify(r.usage));
  const s = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 10, temperature: 0, stream: true });
  let text = "", finish = null;
  for await (const chunk of s) {
    for (const ch of chunk.choices) {
      text += ch.text;
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  assert(text === r.choices[0].text, `stream ${JSON.stringify(text)} vs ${JSON.stringify(r.choices[0].text)}`);
  assert(finish === r.choices[0].finish_reason, `finish ${finish}`);
});

await check("max_tokens gives finish_reason length", async () => {
  const r = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 3, temperature: 0, ignore_eos: true });
  assert(r.choices[0].finish_reason === "length" && r.usage.completion_tokens === 3, JSON.stringify(r));
});

await check("stop sequences cut the text", async () => {
  const free = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 40, temperature: 0 });
  const text = free.choices[0].text;
  // Stop at a word that occurs in the free text, after its first few characters.
  const words = text.split(/\s+/).filter((w) => w.length >= 3);
  assert(words.length > 1, `too little text to pick a stop word: ${JSON.stringify(text)}`);
  const stopWord = words[1];
  const at = text.indexOf(stopWord);
  for (const stop of [stopWord, [stopWord, "zzzz"]]) {
    const r = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 40, temperature: 0, stop });
    assert(r.choices[0].text === text.slice(0, at), `stop ${JSON.stringify(stop)}: ${JSON.stringify(r.choices[0].text)} vs ${JSON.stringify(text.slice(0, at))}`);
    assert(r.choices[0].finish_reason === "stop", r.choices[0].finish_reason);
  }
  const chat = await client.chat.completions.create({ model, messages, max_tokens: 40, temperature: 0 });
  const ct = chat.choices[0].message.content;
  const cw = ct.split(/\s+/).filter((w) => w.length >= 3)[1];
  if (cw) {
    const r = await client.chat.completions.create({ model, messages, max_tokens: 40, temperature: 0, stop: cw });
    assert(r.choices[0].message.content === ct.slice(0, ct.indexOf(cw)), "chat stop");
  }
});

await check("seed determinism (same seed, same text; n choices differ)", async () => {
  const ask = (seed) => client.chat.completions.create({ model, messages, max_tokens: 30, temperature: 1.0, seed });
  const a = await ask(1234), b = await ask(1234);
  assert(a.choices[0].message.content === b.choices[0].message.content, "same seed gave different text");
  const texts = new Set();
  for (const seed of [1, 2, 3, 4, 5]) texts.add((await ask(seed)).choices[0].message.content);
  assert(texts.size > 1, "five seeds all gave the same text: sampling ignores the seed?");
  const n = await client.chat.completions.create({ model, messages, max_tokens: 20, temperature: 1.0, seed: 7, n: 3 });
  assert(n.choices.length === 3 && n.choices.map((c) => c.index).join() === "0,1,2", "n=3 choices");
});

await check("logprobs (chat and completions)", async () => {
  const r = await client.chat.completions.create({ model, messages, max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3 });
  const c = r.choices[0];
  const entries = c.logprobs.content;
  assert(entries.length === r.usage.completion_tokens, `entries ${entries.length} vs ${r.usage.completion_tokens}`);
  // Token pieces may carry the leading space a detokenizer drops at the start.
  const joined = entries.map((e) => e.token).join("");
  assert(joined.trimStart() === c.message.content.trimStart(), `tokens ${JSON.stringify(joined)} vs text ${JSON.stringify(c.message.content)}`);
  for (const e of entries) {
    assert(e.logprob <= 0 && e.top_logprobs.length === 3, JSON.stringify(e));
    // Greedy: the chosen token is the most likely one.
    assert(Math.abs(e.top_logprobs[0].logprob - e.logprob) < 1e-4, `greedy pick is not the top: ${JSON.stringify(e)}`);
    assert(e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob, "sorted");
    const p = e.top_logprobs.reduce((s, t) => s + Math.exp(t.logprob), 0);
    assert(p <= 1.0001, `probabilities sum over 1: ${p}`);
  }
  const comp = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 4, temperature: 0, logprobs: 2 });
  const lp = comp.choices[0].logprobs;
  assert(lp.tokens.length === lp.token_logprobs.length && lp.tokens.length === comp.usage.completion_tokens, JSON.stringify(lp));
  assert(lp.tokens.join("").trimStart() === comp.choices[0].text.trimStart(), `tokens ${JSON.stringify(lp.tokens)} vs ${JSON.stringify(comp.choices[0].text)}`);
});

await check("400 BadRequestError naming the field", async () => {
  const e = await expectError(() => client.chat.completions.create({ model, messages, temperature: "hot" }), OpenAI.BadRequestError, 400);
  assert(e.param === "temperature" || (e.error && e.error.param === "temperature"), `param: ${JSON.stringify(e.error)}`);
  await expectError(() => client.chat.completions.create({ model, messages: [] }), OpenAI.BadRequestError, 400);
  await expectError(() => client.chat.completions.create({ model, messages, stream: true, n: "x" }), OpenAI.BadRequestError, 400);
});

await check("400 context overflow with both token counts", async () => {
  const e = await expectError(() => client.completions.create({ model, prompt: "the cat sat. ".repeat(3000) }), OpenAI.BadRequestError, 400);
  assert(e.code === "context_length_exceeded", `code ${e.code}`);
  assert((e.message.match(/\d+/g) || []).length >= 2, e.message);
});

await check("404 NotFoundError for an unknown model", async () => {
  const e = await expectError(() => client.chat.completions.create({ model: "gpt-4o", messages }), OpenAI.NotFoundError, 404);
  assert(e.code === "model_not_found", `code ${e.code}`);
});

await check("401 AuthenticationError with a wrong or missing key", async () => {
  const wrong = new OpenAI({ baseURL: keyedUrl, apiKey: "wrong", maxRetries: 0 });
  await expectError(() => wrong.models.list(), OpenAI.AuthenticationError, 401);
  await expectError(() => wrong.chat.completions.create({ model, messages }), OpenAI.AuthenticationError, 401);
  const right = new OpenAI({ baseURL: keyedUrl, apiKey: "k3y", maxRetries: 0 });
  const r = await right.chat.completions.create({ model, messages, max_tokens: 4 });
  assert(r.choices.length === 1, "keyed request");
});

await check("503 APIError when the queue is full, at once", async () => {
  const tiny = new OpenAI({ baseURL: tinyUrl, apiKey: "unused", maxRetries: 0 });
  const started = Date.now();
  // Each call timed on its own: a 503 must come at once, not after waiting in a queue.
  const timed = async () => {
    const t0 = Date.now();
    try {
      await tiny.chat.completions.create({ model, messages, max_tokens: 2000, ignore_eos: true });
      return { ok: true, ms: Date.now() - t0 };
    } catch (e) {
      return { ok: false, e, ms: Date.now() - t0 };
    }
  };
  const results = await Promise.all(Array.from({ length: 10 }, timed));
  const rejected = results.filter((r) => !r.ok);
  const fulfilled = results.filter((r) => r.ok);
  assert(rejected.length >= 1 && fulfilled.length >= 1, `${rejected.length} rejected, ${fulfilled.length} fulfilled`);
  for (const { e, ms } of rejected) {
    assert(e instanceof OpenAI.APIError && e.status === 503, `not a 503 APIError: ${e}`);
    assert(e instanceof OpenAI.InternalServerError, "503 should be the SDK's InternalServerError");
    assert(ms < 3000, `a 503 took ${ms} ms`);  // generous: CI machines are loaded
  }
  const rejectedMs = Math.max(...rejected.map((r) => r.ms));
  console.log(`# 503s: ${rejected.length} of 10, the slowest in ${rejectedMs} ms; all done in ${Date.now() - started} ms`);
});

await check("response_format json_object: outputs parse as objects (seeds, temperatures, streaming)", async () => {
  let parsed = 0, cut = 0;
  for (const [seed, temperature] of [[1, 0], [2, 0.7], [3, 1.0], [4, 1.3], [5, 0.4], [6, 1.0]]) {
    const r = await client.chat.completions.create({
      model, messages, max_tokens: 400, temperature, seed, response_format: { type: "json_object" },
    });
    const c = r.choices[0];
    if (c.finish_reason === "length") { cut++; continue; }
    assert(c.finish_reason === "stop", `finish ${c.finish_reason}`);
    const v = JSON.parse(c.message.content);
    assert(v !== null && typeof v === "object" && !Array.isArray(v), `not an object: ${c.message.content}`);
    parsed++;
  }
  assert(parsed >= 3, `${parsed} parsed, ${cut} cut by max_tokens`);
  const stream = await client.chat.completions.create({
    model, messages, max_tokens: 400, temperature: 0.8, seed: 11, response_format: { type: "json_object" }, stream: true,
  });
  let text = "", finish = null;
  for await (const chunk of stream) for (const ch of chunk.choices) { if (ch.delta.content) text += ch.delta.content; if (ch.finish_reason) finish = ch.finish_reason; }
  if (finish === "stop") assert(typeof JSON.parse(text) === "object", text);
  const e = await expectError(() => client.chat.completions.create({ model, messages, response_format: { type: "json_schema", json_schema: { name: "x", schema: {} } } }), OpenAI.BadRequestError, 400);
  assert(e.param === "response_format", `param ${e.param}`);
});

const weather = { type: "function", function: { name: "get_weather", description: "Weather in a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } };
const time = { type: "function", function: { name: "get_time", description: "The time", parameters: { type: "object", properties: {} } } };

await check("tools on a template without tool support: 400 naming tools", async () => {
  const e = await expectError(() => client.chat.completions.create({ model, messages, tools: [weather] }), OpenAI.BadRequestError, 400);
  assert(e.param === "tools", `param ${e.param}`);
  // tool_choice "none" does not offer the tools, so it is fine anywhere.
  const r = await client.chat.completions.create({ model, messages, tools: [weather], tool_choice: "none", max_tokens: 4 });
  assert(r.choices[0].message.tool_calls === undefined || r.choices[0].message.tool_calls === null, "no calls with tool_choice none");
});

const toolsClient = new OpenAI({ baseURL: toolsUrl, apiKey: "unused", maxRetries: 0 });

await check("tools: a named tool_choice forces a parsable call", async () => {
  let calls = 0;
  for (const [seed, temperature] of [[1, 0], [2, 0.8], [3, 1.2]]) {
    const r = await toolsClient.chat.completions.create({
      model, messages: [{ role: "user", content: "What is the weather in Oslo?" }], tools: [weather, time],
      tool_choice: { type: "function", function: { name: "get_weather" } }, max_tokens: 400, temperature, seed,
    });
    const c = r.choices[0];
    if (c.finish_reason === "length") continue;
    assert(c.finish_reason === "tool_calls", `finish ${c.finish_reason}: ${JSON.stringify(c.message)}`);
    const tc = c.message.tool_calls;
    assert(Array.isArray(tc) && tc.length === 1, JSON.stringify(c.message));
    assert(tc[0].type === "function" && tc[0].function.name === "get_weather", JSON.stringify(tc[0]));
    assert(typeof tc[0].id === "string" && tc[0].id.startsWith("call_"), `id ${tc[0].id}`);
    const args = JSON.parse(tc[0].function.arguments);
    assert(args !== null && typeof args === "object" && !Array.isArray(args), tc[0].function.arguments);
    calls++;
  }
  assert(calls >= 2, `${calls} of 3 forced calls completed`);
  const r = await toolsClient.chat.completions.create({
    model, messages, tools: [weather, time], tool_choice: "required", max_tokens: 400, temperature: 0,
  });
  if (r.choices[0].finish_reason !== "length") {
    const name = r.choices[0].message.tool_calls[0].function.name;
    assert(name === "get_weather" || name === "get_time", name);
  }
  // auto: plumbing only (stories260K will not call tools on purpose): a normal answer comes back.
  const a = await toolsClient.chat.completions.create({ model, messages, tools: [weather], max_tokens: 16, temperature: 0 });
  assert(["stop", "length", "tool_calls"].includes(a.choices[0].finish_reason), a.choices[0].finish_reason);
});

await check("tools: streaming deltas assemble into the same call", async () => {
  const request = {
    model, messages: [{ role: "user", content: "Weather?" }], tools: [weather],
    tool_choice: { type: "function", function: { name: "get_weather" } }, max_tokens: 400, temperature: 0,
  };
  const whole = await toolsClient.chat.completions.create(request);
  const stream = await toolsClient.chat.completions.create({ ...request, stream: true });
  const calls = [];
  let finish = null, content = "";
  for await (const chunk of stream) {
    for (const ch of chunk.choices) {
      if (ch.delta.content) content += ch.delta.content;
      for (const d of ch.delta.tool_calls || []) {
        const c = (calls[d.index] ||= { id: "", name: "", arguments: "" });
        if (d.id) c.id = d.id;
        if (d.function && d.function.name) c.name += d.function.name;
        if (d.function && d.function.arguments) c.arguments += d.function.arguments;
      }
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  assert(finish === whole.choices[0].finish_reason, `finish ${finish} vs ${whole.choices[0].finish_reason}`);
  if (finish === "tool_calls") {
    assert(calls.length === 1 && calls[0].name === "get_weather" && calls[0].id.startsWith("call_"), JSON.stringify(calls));
    assert(calls[0].arguments === whole.choices[0].message.tool_calls[0].function.arguments, `${calls[0].arguments} vs ${whole.choices[0].message.tool_calls[0].function.arguments}`);
    assert(content === "", `content ${JSON.stringify(content)}`);
  }
});

await check("tools: assistant tool_calls and tool messages render into the prompt", async () => {
  const user = { role: "user", content: "What is the weather in Oslo?" };
  const assistantCall = { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: "{\"city\": \"Oslo\"}" } }] };
  const toolResult = { role: "tool", tool_call_id: "call_1", content: "Cold and snowy, minus twelve degrees." };
  const ask = (msgs) => toolsClient.chat.completions.create({ model, messages: msgs, tools: [weather], max_tokens: 2, temperature: 0 });
  const base = await ask([user]);
  const withCall = await ask([user, assistantCall]);
  const withResult = await ask([user, assistantCall, toolResult]);
  assert(withCall.usage.prompt_tokens > base.usage.prompt_tokens + 5, `call not rendered: ${base.usage.prompt_tokens} -> ${withCall.usage.prompt_tokens}`);
  assert(withResult.usage.prompt_tokens > withCall.usage.prompt_tokens + 5, `tool result not rendered: ${withCall.usage.prompt_tokens} -> ${withResult.usage.prompt_tokens}`);
  // Without tools the plain template still gets the conversation (no 400 for tool messages).
  const plain = await client.chat.completions.create({ model, messages: [user, assistantCall, toolResult], max_tokens: 2 });
  assert(plain.choices.length === 1, "plain template with tool messages");
});

await check("models.created is the model file's time", async () => {
  const one = await client.models.retrieve(model);
  const now = Date.now() / 1000;
  assert(one.created > 1.5e9 && one.created <= now + 60, `created ${one.created}`);
});

console.log(failures === 0 ? "# all passed" : `# ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
