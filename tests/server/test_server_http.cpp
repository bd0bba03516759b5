// `hearth-cli serve` over raw HTTP (cpp-httplib's client and plain sockets): malformed JSON, wrong
// types, huge bodies, invalid UTF-8, unknown models, context overflow, bad Host, CORS, API keys,
// slow clients that never finish their request, and a client leaving mid-stream (its request is
// cancelled and its KV freed within 2 s). Every error must be OpenAI's JSON with the right status.
#include <QTest>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <thread>

#include "tests/server/serve_process.h"

using nlohmann::json;
using hearth::test::RawSocket;
using hearth::test::ServeProcess;

namespace {

struct Reply {
  int status = 0;
  std::string body;
  httplib::Headers headers;
  json j() const { return json::parse(body, nullptr, false); }
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string("<absent>") : it->second;
  }
};

Reply call(int port, const std::string& method, const std::string& path, const std::string& body = {},
           httplib::Headers headers = {}) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);
  httplib::Result r = method == "GET" ? c.Get(path, headers) : method == "OPTIONS" ? c.Options(path, headers)
                                                             : c.Post(path, headers, body, "application/json");
  if (!r) return {};
  return {r->status, r->body, r->headers};
}

std::string chat_body(const json& extra = json::object()) {
  json j = {{"model", "stories260K"}, {"messages", {{{"role", "user"}, {"content", "Once upon a time"}}}}, {"max_tokens", 8}};
  j.update(extra);
  return j.dump();
}

// An OpenAI error: {"error": {"message": non-empty, "type": string, ...}}.
bool is_error_json(const Reply& r) {
  const json j = r.j();
  return j.is_object() && j.contains("error") && j["error"]["message"].is_string() &&
         !j["error"]["message"].get<std::string>().empty() && j["error"]["type"].is_string();
}

double metric(int port, const std::string& name_with_labels) {
  const Reply r = call(port, "GET", "/metrics");
  const size_t at = r.body.find("\n" + name_with_labels + " ");
  if (at == std::string::npos) return -1;
  return std::stod(r.body.substr(at + name_with_labels.size() + 2));
}

}  // namespace

class TestServerHttp : public QObject {
  Q_OBJECT
  ServeProcess server_;
  int port_ = 0;

 private slots:
  void initTestCase() {
    const QString err = server_.start({"--max-body", "65536", "--timeout", "2", "--parallel", "2", "--ctx-size", "4096",
                                       "--cors-origin", "http://localhost:3000"});
    QVERIFY2(err.isEmpty(), qPrintable(err));
    port_ = server_.port();
  }

  void health_models_and_a_completion() {
    QCOMPARE(call(port_, "GET", "/health").status, 200);
    const Reply models = call(port_, "GET", "/v1/models");
    QCOMPARE(models.status, 200);
    QCOMPARE(models.j()["data"][0]["id"].get<std::string>(), std::string("stories260K"));
    QCOMPARE(call(port_, "GET", "/v1/models/stories260K").status, 200);
    QCOMPARE(call(port_, "GET", "/v1/models/gpt-4").status, 404);
    const Reply r = call(port_, "POST", "/v1/chat/completions", chat_body({{"temperature", 0}}));
    QVERIFY2(r.status == 200, r.body.c_str());
    const json j = r.j();
    QCOMPARE(j["object"].get<std::string>(), std::string("chat.completion"));
    QVERIFY(j["choices"][0]["message"]["content"].is_string());
    QVERIFY(j["usage"]["completion_tokens"].get<int>() >= 1 && j["usage"]["completion_tokens"].get<int>() <= 8);
    QVERIFY(j["usage"]["prompt_tokens"].get<int>() > 0);
  }

  void malformed_and_wrongly_typed_bodies_are_400s_naming_the_field() {
    struct Case {
      std::string body, param;  // param "" : none expected
    };
    const std::vector<Case> cases = {
        {"{", ""}, {"", ""}, {"[]", ""}, {"null", ""}, {"{\"model\": \"stories260K\", \"messages\": [{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}", ""},
        {chat_body({{"temperature", "warm"}}), "temperature"}, {chat_body({{"max_tokens", "8"}}), "max_tokens"},
        {chat_body({{"messages", {{{"role", 1}, {"content", "x"}}}}}), "messages[0].role"},
        {chat_body({{"messages", nullptr}}), "messages"}, {chat_body({{"n", 1.5}}), "n"},
        {chat_body({{"stop", {{"a", 1}}}}), "stop"}, {chat_body({{"logprobs", "yes"}}), "logprobs"},
        {json{{"model", "stories260K"}, {"prompt", 17}}.dump(), "prompt"},
    };
    for (const Case& c : cases) {
      const std::string path = c.param == "prompt" ? "/v1/completions" : "/v1/chat/completions";
      const Reply r = call(port_, "POST", path, c.body);
      QVERIFY2(r.status == 400, (c.body + " -> " + std::to_string(r.status) + " " + r.body).c_str());
      QVERIFY2(is_error_json(r), r.body.c_str());
      if (!c.param.empty()) QCOMPARE(r.j()["error"]["param"].get<std::string>(), c.param);
    }
  }

  void unknown_model_is_404_and_unknown_route_too() {
    const Reply r = call(port_, "POST", "/v1/chat/completions", chat_body({{"model", "gpt-4o"}}));
    QCOMPARE(r.status, 404);
    QVERIFY(is_error_json(r));
    QCOMPARE(r.j()["error"]["code"].get<std::string>(), std::string("model_not_found"));
    const Reply route = call(port_, "GET", "/v1/nothing");
    QCOMPARE(route.status, 404);
    QVERIFY2(is_error_json(route), route.body.c_str());
  }

  void huge_body_is_413_json() {
    const std::string big = chat_body({{"messages", {{{"role", "user"}, {"content", std::string(1 << 20, 'a')}}}}});
    const Reply r = call(port_, "POST", "/v1/chat/completions", big);
    QVERIFY2(r.status == 413, std::to_string(r.status).c_str());
    QVERIFY2(is_error_json(r), r.body.c_str());
    QCOMPARE(call(port_, "GET", "/health").status, 200);  // still serving
  }

  void prompt_longer_than_the_context_names_both_counts() {
    std::string words;
    for (int i = 0; i < 4500; ++i) words += "the cat sat. ";  // under 64 KiB, over 4096 tokens
    const Reply r = call(port_, "POST", "/v1/completions", json{{"model", "stories260K"}, {"prompt", words}}.dump());
    QVERIFY2(r.status == 400, (std::to_string(r.status) + r.body).c_str());
    QCOMPARE(r.j()["error"]["code"].get<std::string>(), std::string("context_length_exceeded"));
    const std::string m = r.j()["error"]["message"].get<std::string>();
    // Both counts: the prompt's tokens and the limit.
    int numbers = 0;
    for (size_t i = 0; i < m.size(); ++i)
      if (std::isdigit(static_cast<unsigned char>(m[i])) && (i == 0 || !std::isdigit(static_cast<unsigned char>(m[i - 1])))) ++numbers;
    QVERIFY2(numbers >= 2 && m.find("4096") != std::string::npos, m.c_str());
  }

  void bad_host_header_is_refused() {
    for (const char* host : {"evil.example", "evil.example:8080", "127.0.0.1.nip.io"}) {
      const Reply r = call(port_, "GET", "/v1/models", {}, {{"Host", host}});
      QVERIFY2(r.status == 403, host);
      QVERIFY(is_error_json(r));
    }
    RawSocket s(port_);  // no Host header at all
    QVERIFY(s.send_all("GET /v1/models HTTP/1.0\r\n\r\n"));
    QVERIFY(s.read_until().rfind("HTTP/1.1 403", 0) == 0);
  }

  void cors_only_for_the_allowlist() {
    const Reply ok = call(port_, "OPTIONS", "/v1/chat/completions", {},
                          {{"Origin", "http://localhost:3000"}, {"Access-Control-Request-Method", "POST"},
                           {"Access-Control-Request-Headers", "authorization, content-type"}});
    QCOMPARE(ok.status, 204);
    QCOMPARE(ok.header("Access-Control-Allow-Origin"), std::string("http://localhost:3000"));
    QCOMPARE(ok.header("Access-Control-Allow-Credentials"), std::string("<absent>"));
    const Reply get = call(port_, "GET", "/v1/models", {}, {{"Origin", "http://localhost:3000"}});
    QCOMPARE(get.status, 200);
    QCOMPARE(get.header("Access-Control-Allow-Origin"), std::string("http://localhost:3000"));
    const Reply bad = call(port_, "POST", "/v1/chat/completions", chat_body(), {{"Origin", "http://evil.example"}});
    QCOMPARE(bad.status, 403);
    QCOMPARE(bad.header("Access-Control-Allow-Origin"), std::string("<absent>"));
  }

  // A client that sends half a request and stalls is dropped after --timeout (2 s); meanwhile
  // other clients are served.
  void slow_clients_time_out() {
    std::vector<std::unique_ptr<RawSocket>> stalled;
    for (int i = 0; i < 6; ++i) {
      stalled.push_back(std::make_unique<RawSocket>(port_, 15000));
      QVERIFY(stalled.back()->ok());
      QVERIFY(stalled.back()->send_all(i % 2 ? "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 500\r\n\r\n{\"mo"
                                             : "GET /v1/mod"));
    }
    const auto t0 = std::chrono::steady_clock::now();
    QCOMPARE(call(port_, "GET", "/health").status, 200);
    for (auto& s : stalled) {
      bool closed = false;
      s->read_until({}, &closed);
      QVERIFY2(closed, "the server kept a stalled connection past its timeout");
    }
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    QVERIFY2(waited < 12, std::to_string(waited).c_str());
  }

  // Leaving mid-stream cancels the request: the "cancelled" count rises and nothing keeps running.
  void disconnect_mid_stream_cancels() {
    const double cancelled_before = std::max(0.0, metric(port_, "hearth_requests_finished_total{reason=\"cancelled\"}"));
    RawSocket s(port_);
    const std::string body = chat_body({{"stream", true}, {"ignore_eos", true}, {"max_tokens", 4000}, {"n", 2}});
    QVERIFY(s.send_all("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n" + body));
    const std::string first = s.read_until("\"content\":\"");
    QVERIFY2(first.find("text/event-stream") != std::string::npos, first.c_str());
    s.close();
    const auto t0 = std::chrono::steady_clock::now();
    double running = -1, cancelled = 0;
    while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2)) {
      running = metric(port_, "hearth_running_requests");
      cancelled = metric(port_, "hearth_requests_finished_total{reason=\"cancelled\"}");
      if (running == 0 && cancelled >= cancelled_before + 2) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    QVERIFY2(cancelled >= cancelled_before + 2, std::to_string(cancelled).c_str());
    QCOMPARE(running, 0.0);
    QCOMPARE(metric(port_, "hearth_kv_blocks{state=\"used\"}"), 0.0);
  }

  // A non-streaming request whose client hangs up while it waits is cancelled too.
  void disconnect_while_waiting_cancels() {
    const double cancelled_before = std::max(0.0, metric(port_, "hearth_requests_finished_total{reason=\"cancelled\"}"));
    RawSocket s(port_);
    const std::string body = chat_body({{"ignore_eos", true}, {"max_tokens", 4000}, {"n", 8}});
    QVERIFY(s.send_all("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n" + body));
    auto t0 = std::chrono::steady_clock::now();
    while (metric(port_, "hearth_running_requests") < 1 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10))
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    QVERIFY2(metric(port_, "hearth_running_requests") >= 1, "the request never started");
    s.close();
    t0 = std::chrono::steady_clock::now();
    double running = -1, cancelled = 0;
    while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2)) {
      running = metric(port_, "hearth_running_requests");
      cancelled = metric(port_, "hearth_requests_finished_total{reason=\"cancelled\"}");
      if (running == 0 && cancelled >= cancelled_before + 1) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    qInfo("cancelled within %lld ms", static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()));
    QVERIFY2(cancelled >= cancelled_before + 1, std::to_string(cancelled).c_str());
    QCOMPARE(running, 0.0);
    QCOMPARE(metric(port_, "hearth_queue_length"), 0.0);
    QCOMPARE(metric(port_, "hearth_kv_blocks{state=\"used\"}"), 0.0);
  }

  // Many clients connecting at once are all accepted promptly: cpp-httplib's own listen backlog
  // (5) would overflow, and the kernel would drop handshakes (retransmits after 1, 3, 7 s ...).
  void connection_burst_is_accepted_at_once() {
    constexpr int kClients = 96;
    std::vector<std::thread> threads;
    std::vector<int> ok(kClients, 0);
    std::vector<double> seconds(kClients, 0);
    std::atomic<int> ready{0};
    for (int i = 0; i < kClients; ++i)
      threads.emplace_back([&, i] {
        ++ready;
        while (ready < kClients) std::this_thread::yield();
        const auto t0 = std::chrono::steady_clock::now();
        RawSocket s(port_, 20000);
        if (s.ok() && s.send_all("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")) {
          bool closed = false;
          const std::string reply = s.read_until({}, &closed);
          ok[static_cast<size_t>(i)] = closed && reply.rfind("HTTP/1.1 200", 0) == 0;
        }
        seconds[static_cast<size_t>(i)] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      });
    for (auto& t : threads) t.join();
    const double slowest = *std::max_element(seconds.begin(), seconds.end());
    qInfo("%d connections, the slowest answered in %.3f s", kClients, slowest);
    QCOMPARE(std::count(ok.begin(), ok.end(), 1), static_cast<std::ptrdiff_t>(kClients));
    QVERIFY2(slowest < 3.0, "a connection waited for a SYN retransmit: the accept queue overflowed");
  }

  void streaming_frames_end_with_done() {
    const Reply r = call(port_, "POST", "/v1/completions",
                         json{{"model", "stories260K"}, {"prompt", "Once"}, {"max_tokens", 5}, {"stream", true},
                              {"stream_options", {{"include_usage", true}}}}.dump());
    QCOMPARE(r.status, 200);
    QVERIFY(r.body.size() > 14 && r.body.substr(r.body.size() - 14) == "data: [DONE]\n\n");
    QVERIFY(r.body.find("\"finish_reason\":\"length\"") != std::string::npos || r.body.find("\"finish_reason\":\"stop\"") != std::string::npos);
    QVERIFY(r.body.find("\"usage\":{") != std::string::npos);
  }

  void metrics_are_prometheus_text() {
    const Reply r = call(port_, "GET", "/metrics");
    QCOMPARE(r.status, 200);
    for (const char* family : {"hearth_http_requests_total{", "hearth_time_to_first_token_seconds_bucket", "hearth_inter_token_latency_seconds_bucket",
                               "hearth_kv_usage_ratio", "hearth_prefix_cache_hit_rate", "hearth_queue_length"})
      QVERIFY2(r.body.find(family) != std::string::npos, family);
  }

  void api_key_is_required_when_set() {
    ServeProcess keyed;
    const QString err = keyed.start({"--api-key", "k3y"});
    QVERIFY2(err.isEmpty(), qPrintable(err));
    const int p = keyed.port();
    QCOMPARE(call(p, "GET", "/v1/models").status, 401);
    QVERIFY(is_error_json(call(p, "GET", "/v1/models")));
    QCOMPARE(call(p, "GET", "/v1/models", {}, {{"Authorization", "Bearer nope"}}).status, 401);
    QCOMPARE(call(p, "GET", "/metrics").status, 401);
    QCOMPARE(call(p, "GET", "/v1/models", {}, {{"Authorization", "Bearer k3y"}}).status, 200);
    QCOMPARE(call(p, "GET", "/health").status, 200);
  }

  void other_addresses_need_a_key() {
    ServeProcess open;
    const QString err = open.start({"--host", "0.0.0.0"});
    QVERIFY2(!err.isEmpty(), "served on 0.0.0.0 without an API key");
    open.process().waitForFinished(10000);
    QVERIFY(open.process().exitCode() != 0);
  }

  void queue_full_is_503_at_once() {
    ServeProcess tiny;
    const QString err = tiny.start({"--parallel", "1", "--max-queue", "1", "--ctx-size", "4096"});
    QVERIFY2(err.isEmpty(), qPrintable(err));
    const int p = tiny.port();
    std::vector<std::thread> threads;
    std::vector<int> statuses(12, 0);
    for (size_t i = 0; i < statuses.size(); ++i)
      threads.emplace_back([&, i] {
        statuses[i] = call(p, "POST", "/v1/chat/completions", chat_body({{"ignore_eos", true}, {"max_tokens", 2000}})).status;
      });
    for (auto& t : threads) t.join();
    const auto n503 = std::count(statuses.begin(), statuses.end(), 503);
    const auto n200 = std::count(statuses.begin(), statuses.end(), 200);
    QVERIFY2(n503 >= 1 && n200 >= 1 && n503 + n200 == 12, (std::to_string(n503) + " 503s, " + std::to_string(n200) + " 200s").c_str());
  }

  void cleanupTestCase() {
    server_.stop();
    QCOMPARE(server_.process().exitCode(), 0);
  }
};

QTEST_APPLESS_MAIN(TestServerHttp)
#include "test_server_http.moc"
