// Robustness of the chat-template interpreter against hostile input: at least 1,000 seeded random
// and malformed templates and inputs (real templates truncated, spliced, sprinkled with random
// tokens and bytes; deep nesting; huge and nested loops; recursion; giant strings; odd input
// values). Every case must end, within a time limit, either in a rendered string or in a
// hearth::Error whose message says what went wrong (a position "L:C" for template faults, or the
// limit that was hit). Runs under ASan/UBSan in CI. HEARTH_TEST_SEED fixes the seed.
#include <QTest>

#include <chrono>
#include <fstream>
#include <random>
#include <sstream>

#include "core/tokenizer/chat_template/chat_template.h"

using namespace hearth;
using chat_template::Value;
using chat_template::ValueDict;
using chat_template::ValueList;

namespace {

const char* const kRealTemplates[] = {"llama3", "qwen25", "qwen3", "mistral_v03", "gemma", "phi3", "smollm2",
                                      "deepseek_r1_distill"};

std::string read_template(const std::string& name) {
  std::ifstream in(std::string(HEARTH_SOURCE_DIR) + "/tests/core/tokenizer/chat_template/data/" + name + ".jinja", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

uint32_t test_seed() {
  if (qEnvironmentVariableIsSet("HEARTH_TEST_SEED")) return static_cast<uint32_t>(qEnvironmentVariableIntValue("HEARTH_TEST_SEED"));
  return std::random_device{}();
}

// Tight limits keep each case fast; the defaults are tested for size in test_chat_template.
TemplateLimits fuzz_limits() {
  TemplateLimits limits;
  limits.max_loop_iterations = 100000;
  limits.max_output_bytes = 1 << 20;
  limits.max_recursion_depth = 64;
  limits.max_nesting_depth = 128;
  limits.max_string_work_bytes = 64 << 20;
  return limits;
}

class Fuzzer {
 public:
  explicit Fuzzer(uint32_t seed) : rng_(seed) {}

  int below(int n) { return static_cast<int>(rng_() % static_cast<uint32_t>(n)); }

  std::string token() {
    static const char* const kTokens[] = {
        "{%", "%}", "{{", "}}", "{#", "#}", "{%-", "-%}", "{{-", "-}}", "(", ")", "[", "]", "{", "}", "'", "\"", "|", ".",
        ",", ":", "=", "==", "!=", "~", "+", "-", "*", "/", "//", "%", "**", " and ", " or ", " not ", " in ", " is ",
        " if ", " else ", "for x in messages", "endfor", "endif", "elif", "set ns.x = ", "macro m(a)", "endmacro",
        "call m(1)", "endcall", "filter upper", "endfilter", "namespace(", "loop.index", "loop.cycle(", "range(",
        "raise_exception('x')", "messages[-1]", "[::-1]", "|tojson", "|join(', ')", "|map(attribute='role')",
        "|selectattr('role')", "|items", "|length", "is defined", "is none", "true", "none", "0", "-1",
        "99999999999999999999", "1e308", "\\", "\n", " ", "é", "日", "\xff", "\xc3", "include 'x'", "import os",
        "extends 'a'", "break", "continue", "recursive", "self", "super()", "__class__", "cycler()", "joiner()"};
    return kTokens[below(static_cast<int>(std::size(kTokens)))];
  }

  // A real template with 1-6 random edits.
  std::string mutated_real_template() {
    std::string src = read_template(kRealTemplates[below(static_cast<int>(std::size(kRealTemplates)))]);
    const int edits = 1 + below(6);
    for (int e = 0; e < edits && !src.empty(); ++e) {
      const size_t at = rng_() % src.size();
      switch (below(6)) {
        case 0: src.resize(at); break;                                   // truncate
        case 1: src.erase(at, 1 + rng_() % 16); break;                   // delete a run
        case 2: src.insert(at, token()); break;                          // random token
        case 3: src[at] = static_cast<char>(rng_() % 256); break;        // random byte
        case 4: {                                                        // splice in another template's piece
          const std::string other = read_template(kRealTemplates[below(static_cast<int>(std::size(kRealTemplates)))]);
          const size_t from = rng_() % other.size();
          src.insert(at, other.substr(from, 1 + rng_() % 200));
          break;
        }
        default: {                                                       // duplicate a piece of itself
          const size_t from = rng_() % src.size();
          src.insert(at, src.substr(from, 1 + rng_() % 80));
        }
      }
    }
    return src;
  }

  std::string random_tokens() {
    std::string out;
    const int n = 1 + below(40);
    for (int i = 0; i < n; ++i) out += token();
    return out;
  }

  // Structures aimed at the limits: nesting, loops, recursion, string growth.
  std::string hostile_structure() {
    const int depth = 50 + below(400);
    switch (below(9)) {
      case 0: return std::string(static_cast<size_t>(depth), '(') + "1" + std::string(static_cast<size_t>(depth), ')');
      case 1: {
        std::string s;
        for (int i = 0; i < depth; ++i) s += "{% if true %}";
        s += "x";
        for (int i = 0; i < depth; ++i) s += "{% endif %}";
        return s;
      }
      case 2: return "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}";
      case 3: return "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}";
      case 4: return "{% set ns = namespace(s='ab') %}{% for i in range(200) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}";
      case 5: return "{{ 'x' * 999999999999 }}";
      case 6: {
        std::string s = "{{ ";
        for (int i = 0; i < depth; ++i) s += "[";
        for (int i = 0; i < depth; ++i) s += "]";
        return s + " }}";
      }
      case 7: return "{% for m in messages recursive %}{{ loop(messages) }}{% endfor %}";
      default: {
        std::string s;
        for (int i = 0; i < depth; ++i) s += "{{ messages|map(attribute='content')|join|upper|lower|trim|tojson ~ ";
        return s + "1 }}";
      }
    }
  }

  Value random_value(int depth) {
    switch (depth <= 0 ? below(6) : below(9)) {
      case 0: return Value();
      case 1: return Value::none();
      case 2: return Value(below(2) == 1);
      case 3: return Value(static_cast<int64_t>(static_cast<int64_t>(rng_()) - (int64_t{1} << 31)));
      case 4: return Value(std::ldexp(static_cast<double>(rng_()), below(2000) - 1000));
      case 5: return Value(std::string(static_cast<size_t>(below(3) == 0 ? 100000 : below(20)), "a{%\xff"[below(4)]));
      case 6: {
        ValueList l;
        for (int i = below(4); i > 0; --i) l.push_back(random_value(depth - 1));
        return Value(std::move(l));
      }
      case 7: {
        ValueDict d;
        static const char* const kKeys[] = {"role", "content", "tool_calls", "function", "name", "arguments", "type"};
        for (int i = below(4); i > 0; --i) d.emplace_back(kKeys[below(7)], random_value(depth - 1));
        return Value(std::move(d));
      }
      default: return Value(ValueDict{{"role", random_value(0)}, {"content", random_value(depth - 1)}});
    }
  }

  TemplateInputs random_inputs() {
    TemplateInputs in;
    in.add_generation_prompt = below(2) == 1;
    in.bos_token = "<s>";
    in.eos_token = "</s>";
    if (below(3) == 0) {
      in.extra.emplace_back("messages", random_value(3));  // anything at all, even not a list
    } else {
      static const char* const kRoles[] = {"system", "user", "assistant", "tool", "", "developer"};
      for (int i = below(6); i > 0; --i) in.messages.push_back({kRoles[below(6)], below(5) == 0 ? std::string() : "hi {{ x }} é"});
    }
    if (below(3) == 0) in.extra.emplace_back("tools", random_value(3));
    return in;
  }

 private:
  std::mt19937 rng_;
};

}  // namespace

class TestChatTemplateFuzz : public QObject {
  Q_OBJECT

 private slots:
  void hostile_templates_end_cleanly() {
    const uint32_t seed = test_seed();
    qInfo("fuzz seed %u (HEARTH_TEST_SEED=%u reproduces)", seed, seed);
    Fuzzer fuzz(seed);
    const TemplateLimits limits = fuzz_limits();
    // Generous, since ASan builds run several times slower and CI machines are shared; a real hang
    // runs far past it.
    const auto time_limit = std::chrono::seconds(qEnvironmentVariableIsSet("HEARTH_FUZZ_CASE_SECONDS")
                                                     ? qEnvironmentVariableIntValue("HEARTH_FUZZ_CASE_SECONDS")
                                                     : 20);
    constexpr int kCases = 1500;
    int rendered = 0, failed = 0, raised = 0;
    auto slowest = std::chrono::steady_clock::duration::zero();
    for (int i = 0; i < kCases; ++i) {
      std::string src;
      switch (i % 3) {
        case 0: src = fuzz.mutated_real_template(); break;
        case 1: src = fuzz.below(2) ? fuzz.random_tokens() : fuzz.hostile_structure(); break;
        default: src = read_template(kRealTemplates[fuzz.below(static_cast<int>(std::size(kRealTemplates)))]);  // odd inputs
      }
      const TemplateInputs inputs = fuzz.random_inputs();
      const auto start = std::chrono::steady_clock::now();
      std::string message;
      try {
        const std::string out = render_chat_template(src, inputs, limits);
        QVERIFY(out.size() <= limits.max_output_bytes);
        ++rendered;
      } catch (const TemplateRaisedError& e) {
        ++raised;  // the template's own message: the author's words, shown as is
      } catch (const Error& e) {
        ++failed;
        message = e.what();
        // Clear: names the template and says where or which limit; never empty.
        QVERIFY2(message.starts_with("chat template"), (std::to_string(i) + ": " + message).c_str());
        QVERIFY2(message.size() > std::string("chat template: ").size(), message.c_str());
      } catch (const std::exception& e) {
        QFAIL((std::to_string(i) + ": a non-hearth exception escaped: " + e.what() + "\ntemplate: " + src.substr(0, 300)).c_str());
      }
      const auto took = std::chrono::steady_clock::now() - start;
      slowest = std::max(slowest, took);
      if (took > std::chrono::seconds(2))
        qInfo("case %d took %.1f s (%s)", i, std::chrono::duration<double>(took).count(), message.substr(0, 120).c_str());
      QVERIFY2(took < time_limit, (std::to_string(i) + ": took too long; template: " + src.substr(0, 300)).c_str());
    }
    qInfo("%d cases: %d rendered, %d hearth::Error, %d raise_exception; slowest %.1f ms", kCases, rendered, failed, raised,
          std::chrono::duration<double, std::milli>(slowest).count());
    QVERIFY(rendered > 50);
    QVERIFY(failed > 50);
  }

  void limits_are_reported_by_name() {
    // Each limit produces its own message, so a user knows what to change.
    const TemplateLimits limits = fuzz_limits();
    TemplateInputs in;
    auto error_of = [&](const std::string& src) {
      try {
        render_chat_template(src, in, limits);
      } catch (const Error& e) {
        return std::string(e.what());
      }
      return std::string();
    };
    QVERIFY(error_of("{% for a in range(100000) %}{% for b in range(100) %}{% endfor %}{% endfor %}").find("loop iterations") != std::string::npos);
    QVERIFY(error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").find("nested deeper") != std::string::npos);
    QVERIFY(error_of("{{ 'x' * 99999999 }}").find("limit") != std::string::npos);
    QVERIFY(error_of("{% set s = 'ab' * 400000 %}{% for i in range(1000) %}{{ s|length }}{% endfor %}").find("string processing") != std::string::npos);
    QVERIFY(error_of("{% set s = 'ab' * 400000 %}{% for c in s %}{% endfor %}").find("loop iterations") != std::string::npos);
    QVERIFY(error_of("{{ " + std::string(1000, '(') + std::string(1000, ')') + " }}").find("chat template") == 0);
    QVERIFY(error_of("{% include 'secret' %}").find("1:") != std::string::npos);
  }
};

QTEST_APPLESS_MAIN(TestChatTemplateFuzz)
#include "test_chat_template_fuzz.moc"
