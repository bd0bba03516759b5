// JSON output constraints (core/constrain):
//  - the byte automaton against nlohmann::json::accept (an independent parser) on random valid
//    documents and random mutations of them, and every prefix of a valid document stays alive;
//  - the trie mask against a brute-force check of every token's bytes, on real vocabularies;
//  - end to end through the Engine on stories260K and a random-weight tiny Qwen2.5 (byte-level
//    BPE): json_object outputs that finish with "stop" parse as objects with nlohmann::json,
//    outputs cut by max_tokens are valid prefixes; forced tool calls parse with an allowed name.
#include <QTemporaryDir>
#include <QTest>

#include <nlohmann/json.hpp>

#include <random>
#include <string>

#include "core/constrain/json_automaton.h"
#include "core/constrain/json_constraint.h"
#include "core/constrain/token_trie.h"
#include "core/engine/engine.h"
#include "core/model/loaded_model.h"
#include "core/model/model_presets.h"
#include "core/model/synth_model.h"
#include "kernels/cpu/thread_pool.h"
#include "tests/core/engine/engine_test_support.h"
#include "tests/core/model/model_test_support.h"

using namespace hearth;
using namespace hearth::constrain;
using hearth::test::Collected;
using hearth::test::Collector;

namespace {

// ---- random JSON text ----

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class JsonTextGenerator {
 public:
  explicit JsonTextGenerator(uint64_t seed) : rng_(seed) {}

  std::string document(bool object_only) {
    std::string out;
    space(out);
    if (object_only) object(out, 0);
    else value(out, 0);
    space(out);
    return out;
  }

 private:
  int pick(int n) { return static_cast<int>(rng_() % static_cast<uint64_t>(n)); }

  void space(std::string& out) {
    static const char kSpace[] = {' ', '\t', '\n', '\r'};
    const int n = pick(4) == 0 ? pick(4) : 0;
    for (int i = 0; i < n; ++i) out += kSpace[pick(4)];
  }

  void value(std::string& out, int depth) {
    switch (pick(depth > 5 ? 4 : 6)) {
      case 0: string(out); break;
      case 1: number(out); break;
      case 2: out += pick(2) ? "true" : "false"; break;
      case 3: out += "null"; break;
      case 4: object(out, depth); break;
      default: array(out, depth); break;
    }
  }

  void object(std::string& out, int depth) {
    out += '{';
    const int n = pick(4);
    for (int i = 0; i < n; ++i) {
      if (i) out += ',';
      space(out);
      string(out);
      space(out);
      out += ':';
      space(out);
      value(out, depth + 1);
      space(out);
    }
    if (n == 0) space(out);
    out += '}';
  }

  void array(std::string& out, int depth) {
    out += '[';
    const int n = pick(4);
    for (int i = 0; i < n; ++i) {
      if (i) out += ',';
      space(out);
      value(out, depth + 1);
      space(out);
    }
    out += ']';
  }

  void string(std::string& out) {
    out += '"';
    const int n = pick(8);
    for (int i = 0; i < n; ++i) {
      switch (pick(7)) {
        case 0: out += static_cast<char>('a' + pick(26)); break;
        case 1: {
          static const char* kEscapes[] = {"\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"};
          out += kEscapes[pick(8)];
          break;
        }
        case 2: {  // \u escape: BMP non-surrogate, or a surrogate pair
          char buf[16];
          if (pick(3) == 0) {
            std::snprintf(buf, sizeof buf, "\\u%04X\\u%04x", 0xD800 + pick(0x400), 0xDC00 + pick(0x400));
          } else {
            int cp = pick(0x10000);
            if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0x41;
            std::snprintf(buf, sizeof buf, "\\u%04x", cp);
          }
          out += buf;
          break;
        }
        case 3: append_utf8(out, 0x80 + static_cast<uint32_t>(pick(0x780))); break;
        case 4: {
          uint32_t cp = 0x800 + static_cast<uint32_t>(pick(0x10000 - 0x800));
          if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xE000;
          append_utf8(out, cp);
          break;
        }
        case 5: append_utf8(out, 0x10000 + static_cast<uint32_t>(pick(0x100000))); break;
        default: out += ' '; break;
      }
    }
    out += '"';
  }

  void number(std::string& out) {
    if (pick(2)) out += '-';
    if (pick(3) == 0) out += '0';
    else {
      out += static_cast<char>('1' + pick(9));
      for (int i = pick(4); i > 0; --i) out += static_cast<char>('0' + pick(10));
    }
    if (pick(2)) {
      out += '.';
      for (int i = 1 + pick(3); i > 0; --i) out += static_cast<char>('0' + pick(10));
    }
    if (pick(3) == 0) {
      out += pick(2) ? 'e' : 'E';
      if (pick(2)) out += pick(2) ? '+' : '-';
      for (int i = 1 + pick(2); i > 0; --i) out += static_cast<char>('0' + pick(10));
    }
  }

  std::mt19937_64 rng_;
};

// Bytes that stress the automaton's edges when spliced into a document.
const unsigned char kMutationBytes[] = {'"', '\\', '{', '}', '[', ']', ',', ':', '0', '1', '9', '-', '+', '.', 'e', 'E',
                                        't', 'r', 'u', 'n', 'l', 'f', 'a', 's', 'd', 'D', 'c', 'C', '8', 'b', ' ', '\n',
                                        0x01, 0x1F, 0x7F, 0x80, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xA0, 0x9F, 0xED,
                                        0xEF, 0xF0, 0x90, 0x8F, 0xF4, 0xF5, 0xFF};

std::string mutate(std::string s, std::mt19937_64& rng) {
  const int edits = 1 + static_cast<int>(rng() % 3);
  for (int e = 0; e < edits; ++e) {
    const size_t at = s.empty() ? 0 : rng() % (s.size() + 1);
    const char b = static_cast<char>(kMutationBytes[rng() % sizeof kMutationBytes]);
    switch (rng() % 4) {
      case 0: s.insert(at, 1, b); break;
      case 1: if (at < s.size()) s.erase(at, 1); break;
      case 2: if (at < s.size()) s[at] = b; break;
      default: s.resize(at); break;  // truncation
    }
  }
  return s;
}

// nlohmann::json refuses numbers that overflow a double (out_of_range 406): a range check, not syntax.
bool number_overflows(const std::string& text) {
  try {
    (void)nlohmann::json::parse(text);
  } catch (const nlohmann::json::out_of_range& e) {
    return e.id == 406;
  } catch (const nlohmann::json::exception&) {
  }
  return false;
}

// A tool-call grammar whose value takes the generator's whitespace and numbers.
JsonGrammar loose_tool_grammar(const std::vector<std::string>& names);

// The automaton's verdict on a whole text: every byte fed, and the document may end here.
bool automaton_accepts(const std::string& text, const JsonLimits& limits) {
  JsonAutomaton a(limits);
  for (unsigned char c : text)
    if (!a.feed(c)) return false;
  return a.can_end();
}

JsonLimits loose_limits(bool object_only) {
  JsonLimits l;
  l.max_depth = kMaxJsonDepth;
  l.max_whitespace_run = 10000;
  l.max_newline_run = 10000;
  l.max_number_digits = 10000;
  l.max_exponent_digits = 10000;
  l.object_at_top = object_only;
  return l;
}

// Every token whose whole piece the state accepts, one token at a time (the reference for the trie).
template <class State>
std::vector<uint8_t> brute_force_allowed(const TokenTrie& trie, const State& state) {
  std::vector<uint8_t> allowed(static_cast<size_t>(trie.vocab_size()), 0);
  for (TokenId id = 0; id < trie.vocab_size(); ++id) {
    const std::string& p = trie.piece(id);
    if (p.empty()) continue;
    State s = state;
    bool ok = true;
    for (unsigned char c : p)
      if (!(ok = s.feed(c))) break;
    allowed[static_cast<size_t>(id)] = ok ? 1 : 0;
  }
  return allowed;
}

JsonGrammar loose_tool_grammar(const std::vector<std::string>& names) {
  JsonGrammar g = tool_call_grammar(names);
  g.value = loose_limits(true);
  return g;
}

std::string trimmed(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n");
  const size_t b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

EngineOptions cpu_engine_options() {
  EngineOptions o;
  o.backend.device = "cpu";
  o.backend.n_threads = 2;
  o.backend.context_size = 512;
  o.max_running = 8;
  o.max_queue = 1000;
  return o;
}

}  // namespace

class TestJsonConstraint : public QObject {
  Q_OBJECT

  QTemporaryDir scratch_;  // removed with the test object, whatever the outcome
  std::filesystem::path dir_;
  std::string qwen_;  // random-weight tiny Qwen2.5 (byte-level BPE vocabulary)
  uint64_t seed_ = 0;

 private slots:
  void initTestCase() {
    seed_ = std::random_device{}();
    qInfo("seed %llu", static_cast<unsigned long long>(seed_));
    dir_ = scratch_.path().toStdString();
    const auto* p = find_model_preset("tiny-qwen2.5");
    QVERIFY(p);
    kernels::cpu::ThreadPool pool(2);
    SynthOptions options;
    options.type = QuantTarget::kQ8_0;
    options.seed = 5;
    qwen_ = (dir_ / "json-tiny-qwen2.5.gguf").string();
    synth_model_file(qwen_, *p, options, pool);
  }

  void automatonAgreesWithNlohmann() {
    std::mt19937_64 rng(seed_);
    int valid = 0, invalid = 0;
    for (int round = 0; round < 6000; ++round) {
      JsonTextGenerator gen(rng());
      const bool object_only = rng() % 2 == 0;
      const std::string doc = gen.document(object_only);
      QVERIFY2(nlohmann::json::accept(doc), doc.c_str());  // the generator itself is right
      // Every prefix of a valid document is alive; the whole one may end.
      JsonAutomaton a(loose_limits(object_only));
      for (size_t i = 0; i < doc.size(); ++i)
        QVERIFY2(a.feed(static_cast<uint8_t>(doc[i])), qPrintable(QString("refused byte %1 of %2").arg(i).arg(QString::fromStdString(doc))));
      QVERIFY2(a.can_end(), doc.c_str());
      for (int m = 0; m < 4; ++m) {
        const std::string text = mutate(doc, rng);
        if (text.rfind("\xEF\xBB\xBF", 0) == 0) continue;  // nlohmann skips a leading BOM; JSON output never has one
        bool expected = nlohmann::json::accept(text);
        if (!expected && number_overflows(text)) continue;  // valid syntax nlohmann refuses as a value
        if (object_only && expected) expected = nlohmann::json::parse(text).is_object();
        const bool got = automaton_accepts(text, loose_limits(object_only));
        QVERIFY2(got == expected, qPrintable(QString("automaton %1, nlohmann %2 on %3")
                                                 .arg(got).arg(expected).arg(QString::fromStdString(nlohmann::json(text).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace)))));
        ++(expected ? valid : invalid);
      }
    }
    qInfo("mutations: %d valid, %d invalid", valid, invalid);
    QVERIFY(valid > 100 && invalid > 1000);
  }

  void automatonLimits() {
    JsonLimits l;
    l.max_whitespace_run = 4;
    l.max_depth = 3;
    l.object_at_top = true;
    QVERIFY(automaton_accepts("{\"a\": [ {} ]}", l));
    QVERIFY(!automaton_accepts("{\"a\":      1}", l));    // 6 spaces in a row
    QVERIFY(!automaton_accepts("{\"a\":[[{}]]}", l));     // depth 4
    QVERIFY(!automaton_accepts("[1]", l));                // not an object
    QVERIFY(!automaton_accepts("\"s\"", l));
    QVERIFY(automaton_accepts("{\"n\": -1.5e+12}", l));
    QVERIFY(!automaton_accepts("{\"n\": 1e400}", l));  // 3 exponent digits: may overflow a double
    QVERIFY(!automaton_accepts("{\"n\": " + std::string(33, '7') + "}", l));
    QVERIFY(!automaton_accepts("{\"a\":\n\n1}", l));   // two newlines in a row
    JsonAutomaton a(l);
    for (char c : std::string("{\"k\": \"v\"}")) QVERIFY(a.feed(static_cast<uint8_t>(c)));
    QVERIFY(a.complete());
    QVERIFY(a.feed(' '));       // trailing whitespace only
    QVERIFY(!JsonAutomaton(a).feed('x'));
  }

  // From any prefix of a valid document, closing mode reaches a whole document within
  // depth + 18 bytes whatever allowed bytes are chosen, and nlohmann accepts the result.
  void closingFinishesQuickly() {
    std::mt19937_64 rng(seed_ + 3);
    for (int round = 0; round < 3000; ++round) {
      JsonTextGenerator gen(rng());
      const bool tool = round % 4 == 0;
      const JsonGrammar grammar = tool ? loose_tool_grammar({"f", "g"}) : JsonGrammar{{}, loose_limits(true), "", 0};
      std::string doc = gen.document(true);
      doc = tool ? "{\"name\": \"g\", \"arguments\": " + trimmed(doc) + "}" : trimmed(doc);
      // A prefix of a valid output, or the longest accepted prefix of a mutated one: every prefix
      // the grammar accepts must still be completable (no dead ends for the mask to walk into).
      const bool mutated = rng() % 2 == 0;
      const std::string source = mutated ? mutate(doc, rng) : doc;
      const size_t cut = rng() % (source.size() + 1);
      std::string text;
      JsonGrammarState st(grammar);
      for (size_t i = 0; i < cut; ++i) {
        JsonGrammarState next = st;
        if (!next.feed(static_cast<uint8_t>(source[i]))) {
          QVERIFY2(mutated, qPrintable(QString::fromStdString("refused a valid prefix: " + source.substr(0, i + 1))));
          break;
        }
        st = next;
        text += source[i];
      }
      if (st.complete()) continue;
      st.start_closing();
      const int limit = st.depth() + 18 + (tool ? 40 : 0);  // a tool head may still be unfinished
      int steps = 0;
      while (!st.complete()) {
        std::vector<uint8_t> options;
        for (int b = 0; b < 256; ++b) {
          JsonGrammarState t = st;
          if (t.feed(static_cast<uint8_t>(b))) options.push_back(static_cast<uint8_t>(b));
        }
        QVERIFY2(!options.empty(), qPrintable(QString::fromStdString("stuck closing " + text)));
        const uint8_t b = options[rng() % options.size()];
        QVERIFY(st.feed(b));
        text += static_cast<char>(b);
        QVERIFY2(++steps <= limit, qPrintable(QString::fromStdString("closing takes too long: " + text)));
      }
      QVERIFY2(nlohmann::json::accept(text), text.c_str());
    }
  }

  void trieMaskMatchesBruteForce_data() {
    QTest::addColumn<QString>("model");
    QTest::newRow("stories260K") << QString(hearth::test::kStoriesModel);
    QTest::newRow("tiny-qwen2.5") << QString::fromStdString(qwen_);
  }
  void trieMaskMatchesBruteForce() {
    QFETCH(QString, model);
    auto loaded = LoadedModel::open(model.toStdString());
    TokenTrieCache cache;
    auto trie = cache.get(loaded->tokenizer());
    QCOMPARE(cache.get(loaded->tokenizer()).get(), trie.get());  // built once
    std::mt19937_64 rng(seed_ + 1);
    auto object_grammar = std::make_shared<const JsonGrammar>(JsonGrammar{{}, loose_limits(true), "", 0});
    auto tool_grammar = std::make_shared<const JsonGrammar>(loose_tool_grammar({"get_weather", "get_time", "search"}));
    int checked = 0;
    for (int round = 0; round < 60; ++round) {
      JsonTextGenerator gen(rng());
      const bool tool = round % 3 == 0;
      std::string doc = gen.document(true);
      // The grammar is complete at the closing brace and takes nothing after it.
      doc = tool ? "{\"name\": \"get_time\", \"arguments\": " + trimmed(doc) + "}" : trimmed(doc);
      JsonGrammarState state(tool ? *tool_grammar : *object_grammar);
      // States at random prefixes of a valid output.
      for (size_t i = 0; i < doc.size(); ++i) {
        if (rng() % 7 == 0) {
          std::vector<uint8_t> fast(static_cast<size_t>(trie->vocab_size()), 0);
          trie->collect(state, fast);
          QVERIFY(fast == brute_force_allowed(*trie, state));
          ++checked;
        }
        QVERIFY(state.feed(static_cast<uint8_t>(doc[i])));
      }
      QVERIFY(state.complete());
    }
    QVERIFY(checked > 50);
  }

  void engineOutputsParse_data() {
    QTest::addColumn<QString>("model");
    QTest::newRow("stories260K") << QString(hearth::test::kStoriesModel);
    QTest::newRow("tiny-qwen2.5") << QString::fromStdString(qwen_);
  }
  void engineOutputsParse() {
    QFETCH(QString, model);
    Engine engine(cpu_engine_options());
    QVERIFY(hearth::test::load_and_wait(engine, model.toStdString()));
    auto cache = std::make_shared<TokenTrieCache>();
    JsonGrammar object_grammar;
    object_grammar.value.object_at_top = true;
    const std::vector<std::string> tools = {"get_weather", "lookup"};
    Collector c;
    constexpr int kRequests = 24;
    std::mt19937_64 rng(seed_ + 2);
    for (int i = 0; i < kRequests; ++i) {
      Request r;
      r.prompt_text = i % 2 ? "Once upon a time" : "The answer in JSON:";
      r.max_tokens = 200;
      r.sampling.temperature = static_cast<float>(rng() % 16) / 10.0f;  // 0 .. 1.5
      r.sampling.seed = rng();
      const bool tool = i % 4 == 3;
      JsonGrammar g = tool ? tool_call_grammar(tools) : object_grammar;
      if (i % 3 != 0) g.token_budget = r.max_tokens;  // closes in time; the rest may be cut
      r.constraint = json_constraint_factory(cache, g);
      engine.submit(r, c.sink(i));
    }
    QVERIFY(c.wait_finished(kRequests, std::chrono::seconds(240)));
    int parsed = 0;
    for (int i = 0; i < kRequests; ++i) {
      const Collected out = c.get(i);
      const bool tool = i % 4 == 3;
      const QString what = QString("request %1 (%2): finish %3, text %4").arg(i).arg(tool ? "tool" : "object")
                               .arg(QString::fromStdString(out.finish_reason)).arg(QString::fromStdString(out.text));
      QVERIFY2(out.finish_reason == "stop" || out.finish_reason == "length", qPrintable(what));
      QVERIFY2(out.finish_reason == "stop" || i % 3 == 0, qPrintable("a budgeted output did not close in time: " + what));
      if (out.finish_reason == "stop") {
        const auto j = nlohmann::json::parse(out.text, nullptr, false);
        QVERIFY2(!j.is_discarded() && j.is_object(), qPrintable(what));
        if (tool) {
          QVERIFY2(j.contains("name") && j["name"].is_string() && j.contains("arguments") && j["arguments"].is_object(), qPrintable(what));
          QVERIFY2(std::find(tools.begin(), tools.end(), j["name"].get<std::string>()) != tools.end(), qPrintable(what));
        }
        ++parsed;
      } else {  // cut by max_tokens: still a prefix the grammar accepts
        const JsonGrammar grammar = tool ? tool_call_grammar(tools) : object_grammar;
        JsonGrammarState st(grammar);
        for (unsigned char ch : out.text) QVERIFY2(st.feed(ch), qPrintable(what));
      }
    }
    qInfo("%d of %d outputs complete and parsed", parsed, kRequests);
    QVERIFY2(parsed >= kRequests * 2 / 3, "too few constrained outputs completed");
  }
};

QTEST_APPLESS_MAIN(TestJsonConstraint)
#include "test_json_constraint.moc"
