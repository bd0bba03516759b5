// Unit tests of the HTTP layer's pure pieces: request parsing/validation (field names in 400s,
// clamping), error JSON, security checks (Host, API key, Origin), SSE framing, Prometheus text.
#include <QTest>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>

#include "core/server/api_error.h"
#include "core/server/http_security.h"
#include "core/server/openai_request.h"
#include "core/server/openai_response.h"
#include "core/server/server_metrics.h"
#include "core/server/tool_calls.h"

using namespace hearth;
using namespace hearth::server;
using nlohmann::json;

namespace {

// The param of the ApiError `fn` throws; "<none>" when it does not throw.
template <class Fn>
std::string thrown_param(Fn fn, int* status = nullptr) {
  try {
    fn();
  } catch (const ApiError& e) {
    if (status) *status = e.status;
    return e.param;
  }
  return "<none>";
}

json chat(json extra = json::object()) {
  json j = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  j.update(extra);
  return j;
}

}  // namespace

class TestServerUnits : public QObject {
  Q_OBJECT

 private slots:
  void parses_a_full_chat_request() {
    const json body = chat({{"max_tokens", 7}, {"temperature", 0.5}, {"top_p", 0.9}, {"seed", 42}, {"stop", "\n"},
                            {"n", 3}, {"stream", true}, {"stream_options", {{"include_usage", true}}},
                            {"presence_penalty", 0.5}, {"frequency_penalty", -0.5}, {"logprobs", true},
                            {"top_logprobs", 2}, {"top_k", 5}, {"min_p", 0.1}, {"user", "ignored"}});
    const ApiCall c = parse_chat_request(body, {});
    QCOMPARE(c.model, std::string("m"));
    QCOMPARE(c.request.max_tokens, int64_t{7});
    QCOMPARE(c.request.sampling.temperature, 0.5f);
    QCOMPARE(c.request.sampling.top_p, 0.9f);
    QCOMPARE(c.request.sampling.seed, uint64_t{42});
    QCOMPARE(c.request.sampling.top_k, 5);
    QCOMPARE(c.request.sampling.min_p, 0.1f);
    QCOMPARE(c.request.sampling.presence_penalty, 0.5f);
    QCOMPARE(c.request.sampling.frequency_penalty, -0.5f);
    QCOMPARE(c.request.stop_strings, std::vector<std::string>{"\n"});
    QCOMPARE(c.n, 3);
    QVERIFY(c.stream && c.include_usage && c.logprobs);
    QCOMPARE(c.request.top_logprobs, 2);
    QCOMPARE(c.request.messages.size(), size_t{1});
    QCOMPARE(c.request.messages[0].role, std::string("user"));
  }

  void max_completion_tokens_wins_and_defaults_are_openais() {
    const ApiCall c = parse_chat_request(chat({{"max_tokens", 5}, {"max_completion_tokens", 9}}), {});
    QCOMPARE(c.request.max_tokens, int64_t{9});
    const ApiCall d = parse_chat_request(chat(), {});
    QCOMPARE(d.request.sampling.temperature, 1.0f);
    QCOMPARE(d.request.sampling.top_p, 1.0f);
    QCOMPARE(d.request.sampling.top_k, 0);
    QCOMPARE(d.request.sampling.min_p, 0.0f);
    QCOMPARE(d.request.top_logprobs, -1);
    QCOMPARE(d.request.max_tokens, RequestLimits{}.max_tokens_cap);
  }

  void roles_and_content_parts() {
    const json body = chat({{"messages", {{{"role", "developer"}, {"content", "be brief"}},
                                          {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "a"}}, {{"type", "text"}, {"text", "b"}}}}},
                                          {{"role", "assistant"}, {"content", nullptr}},
                                          {{"role", "tool"}, {"content", "42"}, {"tool_call_id", "x"}}}}});
    const ApiCall c = parse_chat_request(body, {});
    QCOMPARE(c.request.messages.size(), size_t{4});
    QCOMPARE(c.request.messages[0].role, std::string("system"));
    QCOMPARE(c.request.messages[1].content, std::string("ab"));
    QCOMPARE(c.request.messages[2].content, std::string());
    QCOMPARE(c.request.messages[3].role, std::string("tool"));
  }

  void numbers_are_clamped() {
    RequestLimits limits;
    limits.max_tokens_cap = 100;
    const ApiCall c = parse_chat_request(chat({{"max_tokens", 1000000000000LL}, {"temperature", 55.0}, {"top_p", -3},
                                               {"n", 99999}, {"top_logprobs", 500}, {"logprobs", true},
                                               {"presence_penalty", 1e30}, {"min_p", 7}}), limits);
    QCOMPARE(c.request.max_tokens, int64_t{100});
    QCOMPARE(c.request.sampling.temperature, 2.0f);
    QCOMPARE(c.request.sampling.top_p, 0.0f);
    QCOMPARE(c.n, limits.max_choices);
    QCOMPARE(c.top_logprobs, 20);
    QCOMPARE(c.request.sampling.presence_penalty, 2.0f);
    QCOMPARE(c.request.sampling.min_p, 1.0f);
    const ApiCall d = parse_chat_request(chat({{"max_tokens", 0}, {"n", -5}, {"seed", 18446744073709551615ULL}}), limits);
    QCOMPARE(d.request.max_tokens, int64_t{1});
    QCOMPARE(d.n, 1);
    QCOMPARE(d.request.sampling.seed, UINT64_MAX);
  }

  void bad_fields_are_named() {
    struct Case {
      json body;
      std::string param;
    };
    const std::vector<Case> cases = {
        {chat({{"temperature", "hot"}}), "temperature"},
        {chat({{"max_tokens", 1.5}}), "max_tokens"},
        {chat({{"max_tokens", true}}), "max_tokens"},
        {chat({{"seed", "x"}}), "seed"},
        {chat({{"stream", 1}}), "stream"},
        {chat({{"stop", 5}}), "stop"},
        {chat({{"stop", {"a", 1}}}), "stop"},
        {chat({{"stop", std::vector<std::string>(20, "x")}}), "stop"},
        {chat({{"stream_options", {{"include_usage", "yes"}}}}), "stream_options.include_usage"},
        {chat({{"top_logprobs", 2}}), "top_logprobs"},
        {chat({{"response_format", {{"type", "xml"}}}}), "response_format.type"},
        {chat({{"response_format", {{"type", "json_schema"}}}}), "response_format"},
        {chat({{"response_format", "json"}}), "response_format"},
        {chat({{"tools", {{{"type", "function"}}}}}), "tools[0].function"},
        {chat({{"tools", "f"}}), "tools"},
        {chat({{"tools", {{{"type", "function"}, {"function", {{"name", "bad name!"}}}}}}}), "tools[0].function.name"},
        {chat({{"tools", {{{"type", "function"}, {"function", {{"name", "f"}, {"parameters", 3}}}}}}}), "tools[0].function.parameters"},
        {chat({{"tools", {{{"type", "function"}, {"function", {{"name", "f"}}}}}}, {"tool_choice", "always"}}), "tool_choice"},
        {chat({{"tools", {{{"type", "function"}, {"function", {{"name", "f"}}}}}},
               {"tool_choice", {{"type", "function"}, {"function", {{"name", "g"}}}}}}), "tool_choice"},
        {chat({{"tool_choice", "required"}}), "tool_choice"},
        {chat({{"messages", {{{"role", "assistant"}, {"content", nullptr}, {"tool_calls", {{{"function", {{"name", 1}}}}}}}}}}),
         "messages[0].tool_calls[0].function.name"},
        {chat({{"messages", {{{"role", "user"}, {"content", "x"}, {"tool_calls", json::array()}}}}}), "messages[0].tool_calls"},
        {chat({{"messages", {{{"role", "tool"}, {"content", "x"}, {"tool_call_id", 5}}}}}), "messages[0].tool_call_id"},
        {chat({{"messages", json::array()}}), "messages"},
        {chat({{"messages", "hi"}}), "messages"},
        {chat({{"messages", {{{"role", "wizard"}, {"content", "x"}}}}}), "messages[0].role"},
        {chat({{"messages", {{{"role", "user"}, {"content", 3}}}}}), "messages[0].content"},
        {chat({{"messages", {{{"role", "user"}, {"content", {{{"type", "image_url"}}}}}}}}), "messages[0].content[0].type"},
        {chat({{"messages", {{{"role", "user"}, {"content", "x"}}, 7}}}), "messages[1]"},
        {json{{"messages", {{{"role", "user"}, {"content", "x"}}}}}, "model"},
        {chat({{"model", 3}}), "model"},
    };
    for (const Case& c : cases) {
      int status = 0;
      const std::string param = thrown_param([&] { parse_chat_request(c.body, {}); }, &status);
      QVERIFY2(param == c.param, (c.body.dump() + " -> " + param).c_str());
      QCOMPARE(status, 400);
    }
    QCOMPARE(thrown_param([] { parse_completion_request({{"model", "m"}}, {}); }), std::string("prompt"));
    QCOMPARE(thrown_param([] { parse_completion_request({{"model", "m"}, {"prompt", {1, "a"}}}, {}); }), std::string("prompt"));
    QCOMPARE(thrown_param([] { parse_completion_request({{"model", "m"}, {"prompt", {-1}}}, {}); }), std::string("prompt"));
    QCOMPARE(thrown_param([] { parse_completion_request({{"model", "m"}, {"prompt", "x"}, {"echo", true}}, {}); }), std::string("echo"));
  }

  void response_format_json_object_sets_a_grammar() {
    const ApiCall plain = parse_chat_request(chat({{"response_format", {{"type", "text"}}}}), {});
    QVERIFY(!plain.grammar);
    const ApiCall j = parse_chat_request(chat({{"response_format", {{"type", "json_object"}}}}), {});
    QVERIFY(j.grammar && j.grammar->heads.empty() && j.grammar->value.object_at_top && j.grammar->tail.empty());
  }

  void tools_and_tool_choice() {
    const json tools = {{{"type", "function"}, {"function", {{"name", "get_weather"}, {"parameters", {{"type", "object"}}}}}},
                        {{"type", "function"}, {"function", {{"name", "get_time"}}}}};
    const json history = {{{"role", "user"}, {"content", "weather?"}},
                          {{"role", "assistant"}, {"content", nullptr},
                           {"tool_calls", {{{"id", "call_1"}, {"type", "function"},
                                            {"function", {{"name", "get_weather"}, {"arguments", "{\"city\":\"Oslo\"}"}}}}}}},
                          {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "cold"}}};
    auto extra = [](const ApiCall& c, const std::string& name) -> const chat_template::Value* {
      for (const auto& [k, v] : c.request.template_extra)
        if (k == name) return &v;
      return nullptr;
    };
    const ApiCall automatic = parse_chat_request(chat({{"tools", tools}, {"messages", history}}), {});
    QVERIFY(automatic.tools_active() && automatic.tool_choice == ToolChoice::kAuto && !automatic.grammar);
    QVERIFY(automatic.tool_names == (std::vector<std::string>{"get_weather", "get_time"}));
    const chat_template::Value* t = extra(automatic, "tools");
    QVERIFY(t && t->is_list() && t->list().size() == 2);
    const chat_template::Value* m = extra(automatic, "messages");
    QVERIFY(m && m->is_list() && m->list().size() == 3);
    // The assistant's call arguments reach the template as an object; the tool message keeps its id.
    const chat_template::Value& call = m->list()[1].find("tool_calls")->list()[0];
    QCOMPARE(call.find("function")->find("arguments")->find("city")->as_string(), std::string("Oslo"));
    QVERIFY(m->list()[1].find("content")->is_none());
    QCOMPARE(m->list()[2].find("tool_call_id")->as_string(), std::string("call_1"));
    QCOMPARE(automatic.request.messages.size(), size_t{3});

    const ApiCall named = parse_chat_request(chat({{"tools", tools}, {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_time"}}}}}}), {});
    QVERIFY(named.tool_choice == ToolChoice::kNamed && named.grammar);
    QVERIFY(named.grammar->heads == (std::vector<std::string>{"{\"name\": \"get_time\", \"arguments\": "}));
    const ApiCall required = parse_chat_request(chat({{"tools", tools}, {"tool_choice", "required"}}), {});
    QVERIFY(required.grammar && required.grammar->heads.size() == 2 && required.grammar->tail == "}");
    const ApiCall none = parse_chat_request(chat({{"tools", tools}, {"tool_choice", "none"}}), {});
    QVERIFY(!none.tools_active() && !none.grammar && !extra(none, "tools") && !extra(none, "messages"));
  }

  void tool_call_formats_parse() {
    struct Case {
      std::string text;
      std::string content;
      std::vector<std::pair<std::string, json>> calls;
    };
    const json oslo = {{"city", "Oslo"}};
    const std::vector<Case> cases = {
        {"Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>", "Let me check.",
         {{"get_weather", oslo}}},
        {"<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>\n<tool_call>{\"name\": \"b\", \"arguments\": \"{\\\"x\\\": 1}\"}</tool_call>", "",
         {{"a", json::object()}, {"b", {{"x", 1}}}}},
        {"<tool_call>{\"name\": \"a\", \"arguments\": {\"k\": [1, 2]}}", "", {{"a", {{"k", {1, 2}}}}}},  // unclosed at the end
        {"[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}]", "", {{"get_weather", oslo}}},
        {"[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Oslo\"}", "", {{"get_weather", oslo}}},
        {"<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}", "", {{"get_weather", oslo}}},
        {" {\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}", "", {{"get_weather", oslo}}},
        {"{\"name\": \"a\", \"parameters\": {\"s\": \"x;y\"}}; {\"name\": \"b\", \"parameters\": {}}", "", {{"a", {{"s", "x;y"}}}, {"b", json::object()}}},
        {"[{\"name\": \"a\", \"arguments\": {}}, {\"name\": \"b\"}]", "", {{"a", json::object()}, {"b", json::object()}}},
        {"{\"type\": \"function\", \"function\": {\"name\": \"a\", \"arguments\": {}}}", "", {{"a", json::object()}}},
        // Not calls: stays content.
        {"Once upon a time there was a cat.", "Once upon a time there was a cat.", {}},
        {"{\"answer\": 42}", "{\"answer\": 42}", {}},
        {"<tool_call>not json</tool_call>", "<tool_call>not json</tool_call>", {}},
        {"[TOOL_CALLS] nonsense", "[TOOL_CALLS] nonsense", {}},
        {"{\"name\": \"a\", \"arguments\": 5}", "{\"name\": \"a\", \"arguments\": 5}", {}},
    };
    std::mt19937_64 rng(std::random_device{}());
    for (const Case& c : cases) {
      const ParsedOutput out = parse_tool_calls(c.text);
      QVERIFY2(out.content == c.content, (c.text + " -> content " + out.content).c_str());
      QVERIFY2(out.calls.size() == c.calls.size(), (c.text + " -> " + std::to_string(out.calls.size()) + " calls").c_str());
      for (size_t k = 0; k < c.calls.size(); ++k) {
        QCOMPARE(out.calls[k].name, c.calls[k].first);
        QVERIFY2(json::parse(out.calls[k].arguments) == c.calls[k].second, out.calls[k].arguments.c_str());
      }
      // Streamed in random pieces: the content shown early plus what finish() gives is the same
      // content, and the calls are the same.
      for (int round = 0; round < 20; ++round) {
        ToolCallStreamFilter f;
        std::string shown;
        for (size_t at = 0; at < c.text.size();) {
          const size_t n = 1 + rng() % 6;
          shown += f.push(c.text.substr(at, n));
          at += n;
        }
        const ParsedOutput end = f.finish();
        if (c.calls.empty()) {
          QVERIFY2(shown + end.content == c.text, (c.text + " streamed as " + shown + " | " + end.content).c_str());
        } else {
          QCOMPARE(end.calls.size(), c.calls.size());
          QVERIFY2(shown.find("<tool_call>") == std::string::npos && shown.find('{') == std::string::npos, shown.c_str());
        }
      }
    }
  }

  void completion_prompts() {
    QCOMPARE(parse_completion_request({{"model", "m"}, {"prompt", "Once"}}, {}).request.prompt_text, std::string("Once"));
    QCOMPARE(parse_completion_request({{"model", "m"}, {"prompt", {"Once"}}}, {}).request.prompt_text, std::string("Once"));
    const ApiCall t = parse_completion_request({{"model", "m"}, {"prompt", {1, 2, 3}}, {"logprobs", 3}}, {});
    QCOMPARE(t.request.prompt_tokens, (std::vector<TokenId>{1, 2, 3}));
    QVERIFY(t.logprobs);
    QCOMPARE(t.request.top_logprobs, 3);
  }

  void json_body_errors() {
    for (const std::string body : {"", "{", "[1,2]", "\"x\"", "{\"a\":\"\xff\xfe\"}", "{\"a\":\"\xc3\"}", "nul"}) {
      int status = 0;
      thrown_param([&] { parse_json_body(body); }, &status);
      QVERIFY2(status == 400, body.c_str());
    }
    QCOMPARE(parse_json_body("{\"a\":\"\xc3\xa9\"}")["a"].get<std::string>(), std::string("\xc3\xa9"));
  }

  void error_json_shape() {
    const json e = error_body(ApiError(400, "bad temperature", "temperature"));
    QCOMPARE(e["error"]["message"].get<std::string>(), std::string("bad temperature"));
    QCOMPARE(e["error"]["type"].get<std::string>(), std::string("invalid_request_error"));
    QCOMPARE(e["error"]["param"].get<std::string>(), std::string("temperature"));
    QVERIFY(e["error"]["code"].is_null());
    QVERIFY(error_body(ApiError(401, "x"))["error"]["param"].is_null());
  }

  void host_checks() {
    for (const char* ok : {"localhost", "localhost:8080", "LOCALHOST:1", "127.0.0.1", "127.0.0.1:80", "127.1.2.3:9", "[::1]", "[::1]:8080", "localhost.:5"})
      QVERIFY2(host_header_is_loopback(ok), ok);
    for (const char* bad : {"", "evil.example", "evil.example:8080", "localhost.evil.example", "127.0.0.1.evil.example", "128.0.0.1",
                            "127.0.0.256", "127.0.0", "[::2]:80", "[::1]x", "localhost:80x", "0.0.0.0", "::1:80"})
      QVERIFY2(!host_header_is_loopback(bad), bad);
    QVERIFY(is_loopback_name("127.0.0.1") && is_loopback_name("::1") && !is_loopback_name("0.0.0.0"));
  }

  void api_key_checks() {
    QVERIFY(authorization_matches("Bearer s3cret", "s3cret"));
    QVERIFY(authorization_matches("bearer s3cret", "s3cret"));
    for (const char* bad : {"", "Bearer", "Bearer ", "Bearer s3cre", "Bearer s3cret ", "Bearer S3cret", "Basic s3cret", "s3cret"})
      QVERIFY2(!authorization_matches(bad, "s3cret"), bad);
    QVERIFY(!authorization_matches("Bearer ", ""));
  }

  void origin_checks() {
    const std::vector<std::string> allow = {"http://localhost:3000"};
    QVERIFY(origin_allowed("http://localhost:3000", allow));
    QVERIFY(!origin_allowed("http://localhost:3001", allow));
    QVERIFY(!origin_allowed("null", allow));
    QVERIFY(!origin_allowed("http://localhost:3000", {}));
  }

  void sse_framing_replaces_invalid_utf8() {
    const std::string s = sse_data({{"t", std::string("a\xff")}});
    QVERIFY(s.rfind("data: ", 0) == 0);
    QVERIFY(s.size() >= 2 && s.substr(s.size() - 2) == "\n\n");
    QVERIFY(s.find('\n') == s.size() - 2);  // one line: JSON escapes newlines
    const json back = json::parse(s.substr(6));
    QCOMPARE(back["t"].get<std::string>(), std::string("a\xef\xbf\xbd"));
    QCOMPARE(std::string(kSseDone), std::string("data: [DONE]\n\n"));
  }

  void logprob_shapes() {
    TokenLogprob a;
    a.token = 5;
    a.text = "Hi";
    a.logprob = -0.25f;
    a.top = {{5, -0.25f}, {7, -1.5f}};
    TokenLogprob b = a;
    b.text = " there";
    b.logprob = -std::numeric_limits<float>::infinity();
    TokenText names = [](TokenId id) { return "t" + std::to_string(id); };
    const json chat_lp = chat_logprob_entries({a, b}, names);
    QCOMPARE(chat_lp.size(), size_t{2});
    QCOMPARE(chat_lp[0]["token"].get<std::string>(), std::string("Hi"));
    QVERIFY(chat_lp[0]["bytes"] == json({72, 105}));
    QCOMPARE(chat_lp[0]["top_logprobs"][1]["token"].get<std::string>(), std::string("t7"));
    QVERIFY(std::isfinite(chat_lp[1]["logprob"].get<double>()));
    const json legacy = completion_logprobs({a, b}, names, 10);
    QVERIFY(legacy["text_offset"] == json({10, 12}));
    QVERIFY(legacy["tokens"] == json({"Hi", " there"}));
    QCOMPARE(legacy["top_logprobs"][0]["t7"].get<double>(), -1.5);
    QCOMPARE(openai_finish_reason("context"), std::string("length"));
    QCOMPARE(openai_finish_reason("stop"), std::string("stop"));
    QCOMPARE(usage_json(3, 4, 1)["total_tokens"].get<int64_t>(), int64_t{7});
  }

  // Histogram against a direct count of random values (independent: sorts and counts per bound).
  void histogram_matches_direct_count() {
    const auto seed = std::random_device{}();
    qInfo("seed %u", seed);
    std::mt19937 rng(seed);
    std::exponential_distribution<double> dist(20.0);
    const std::vector<double> bounds = {0.01, 0.05, 0.1, 0.5};
    Histogram h(bounds);
    std::vector<double> values(500);
    for (auto& v : values) {
      v = dist(rng);
      h.observe(v);
    }
    std::string text;
    h.render("x", text);
    for (double b : bounds) {
      const auto n = std::count_if(values.begin(), values.end(), [&](double v) { return v <= b; });
      char line[64];
      std::snprintf(line, sizeof line, "x_bucket{le=\"%g\"} %ld\n", b, static_cast<long>(n));
      QVERIFY2(text.find(line) != std::string::npos, (std::string(line) + " not in\n" + text).c_str());
    }
    QVERIFY(text.find("x_bucket{le=\"+Inf\"} 500\n") != std::string::npos);
    QVERIFY(text.find("x_count 500\n") != std::string::npos);
  }

  void metrics_text_has_every_family() {
    ServerMetrics m;
    m.count_request("/v1/chat/completions", 200);
    m.count_request("/v1/chat/completions", 200);
    m.count_request("/v1/models", 404);
    m.add_tokens(10, 5);
    m.observe_time_to_first_token(0.2);
    m.observe_inter_token_latency(0.01);
    EngineStats e;
    e.queued = 3;
    e.kv_blocks_total = 10;
    e.kv_blocks_used = 4;
    e.prefix_hit_rate = 0.5;
    const std::string t = m.render(e);
    for (const char* want : {"hearth_http_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"} 2\n",
                             "hearth_http_requests_total{endpoint=\"/v1/models\",status=\"404\"} 1\n",
                             "hearth_prompt_tokens_total 10\n", "hearth_generated_tokens_total 5\n",
                             "hearth_time_to_first_token_seconds_count 1\n", "hearth_inter_token_latency_seconds_count 1\n",
                             "hearth_queue_length 3\n", "hearth_kv_usage_ratio 0.4\n", "hearth_prefix_cache_hit_rate 0.5\n",
                             "# TYPE hearth_time_to_first_token_seconds histogram\n"})
      QVERIFY2(t.find(want) != std::string::npos, want);
  }
};

QTEST_APPLESS_MAIN(TestServerUnits)
#include "test_server_units.moc"
