// Soak: twice the engine's concurrency of streaming clients against `hearth-cli serve` for
// HEARTH_SOAK_SECONDS (default 120; the `slow` variant runs longer), 10% of streams hanging up
// mid-stream. Checks: no connection resets or refused connections, every stream read to its end
// is well-formed SSE ending with a finish reason and "data: [DONE]", nothing left running or
// holding KV afterwards, and resident memory grows < 5% from warm-up to the end.
#include <QTest>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include "tests/server/serve_process.h"

using nlohmann::json;
using hearth::test::RawSocket;
using hearth::test::ServeProcess;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kParallel = 2;

// Decodes a chunked HTTP/1.1 body; false when malformed or cut short.
bool dechunk(const std::string& raw, std::string& body) {
  size_t at = 0;
  while (true) {
    const size_t eol = raw.find("\r\n", at);
    if (eol == std::string::npos) return false;
    const size_t size = std::strtoul(raw.substr(at, eol - at).c_str(), nullptr, 16);
    at = eol + 2;
    if (size == 0) return true;
    if (at + size + 2 > raw.size()) return false;
    body.append(raw, at, size);
    at += size + 2;
  }
}

struct Tally {
  std::mutex mutex;
  int completed = 0, hung_up = 0, resets = 0, bad = 0;
  std::vector<std::string> problems;
  void problem(const std::string& p, int Tally::*counter) {
    std::lock_guard lock(mutex);
    ++(this->*counter);
    if (problems.size() < 10) problems.push_back(p);
  }
};

// One streaming request; hangs up after the first content when `hang_up`.
void one_stream(int port, std::mt19937_64& rng, bool hang_up, Tally& tally) {
  const bool chat = rng() % 2 == 0;
  json body = {{"model", "stories260K"}, {"stream", true}, {"max_tokens", 16 + static_cast<int>(rng() % 180)},
               {"temperature", static_cast<double>(rng() % 100) / 80.0}, {"seed", rng() % 100000},
               {"stream_options", {{"include_usage", true}}}};
  if (chat) body["messages"] = {{{"role", "user"}, {"content", "Tell me a story about a cat"}}};
  else body["prompt"] = "Once upon a time there was";
  const std::string payload = body.dump();
  RawSocket s(port, 60000);
  if (!s.ok()) return tally.problem("connect failed", &Tally::resets);
  const std::string head = std::string("POST ") + (chat ? "/v1/chat/completions" : "/v1/completions") +
                           " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: " +
                           std::to_string(payload.size()) + "\r\n\r\n";
  if (!s.send_all(head + payload)) return tally.problem("send failed", &Tally::resets);
  if (hang_up) {
    s.read_until(chat ? "\"content\":\"" : "\"text\":\"");
    s.close();
    std::lock_guard lock(tally.mutex);
    ++tally.hung_up;
    return;
  }
  bool closed = false;
  int error = 0;
  const auto t0 = Clock::now();
  const std::string raw = s.read_until({}, &closed, &error);
  if (!closed) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    return tally.problem("no clean close (" + std::string(std::strerror(error)) + ") after " + std::to_string(raw.size()) + " bytes, " +
                             std::to_string(ms) + " ms; ends: " + json(raw.substr(raw.size() > 160 ? raw.size() - 160 : 0)).dump(-1, ' ', false, json::error_handler_t::replace),
                         &Tally::resets);
  }
  const size_t split = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.1 200", 0) != 0 || split == std::string::npos) return tally.problem("status: " + raw.substr(0, 200), &Tally::bad);
  std::string sse;
  if (!dechunk(raw.substr(split + 4), sse)) return tally.problem("bad chunked body", &Tally::bad);
  // Events: "data: {json}\n\n" ... "data: [DONE]\n\n", nothing else.
  bool finished = false, done = false;
  size_t at = 0;
  while (at < sse.size()) {
    const size_t end = sse.find("\n\n", at);
    if (end == std::string::npos || sse.compare(at, 6, "data: ") != 0) return tally.problem("not SSE: " + sse.substr(at, 100), &Tally::bad);
    const std::string data = sse.substr(at + 6, end - at - 6);
    at = end + 2;
    if (done) return tally.problem("data after [DONE]", &Tally::bad);
    if (data == "[DONE]") {
      done = true;
      continue;
    }
    const json j = json::parse(data, nullptr, false);
    if (j.is_discarded() || j.contains("error")) return tally.problem("bad event: " + data, &Tally::bad);
    for (const auto& c : j["choices"])
      if (c.contains("finish_reason") && c["finish_reason"].is_string()) finished = true;
  }
  if (!finished || !done) return tally.problem("stream without finish reason or [DONE]", &Tally::bad);
  std::lock_guard lock(tally.mutex);
  ++tally.completed;
}

double metric(int port, const std::string& name) {
  httplib::Client c("127.0.0.1", port);
  auto r = c.Get("/metrics");
  if (!r) return -1;
  const size_t at = r->body.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(r->body.substr(at + name.size() + 2));
}

}  // namespace

class TestServerSoak : public QObject {
  Q_OBJECT

 private slots:
  void soak() {
    const char* env = std::getenv("HEARTH_SOAK_SECONDS");
    const int seconds = env ? std::max(10, std::atoi(env)) : 120;
    ServeProcess server;
    const QString err = server.start({"--parallel", QString::number(kParallel), "--ctx-size", "1024"});
    QVERIFY2(err.isEmpty(), qPrintable(err));
    const int port = server.port();
    const auto seed = std::random_device{}();
    qInfo("seed %u, %d s, %d clients", seed, seconds, 2 * kParallel);

    Tally tally;
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::seconds(seconds);
    std::vector<std::thread> clients;
    for (int c = 0; c < 2 * kParallel; ++c)
      clients.emplace_back([&, c] {
        std::mt19937_64 rng(seed + static_cast<unsigned>(c));
        while (Clock::now() < deadline) one_stream(port, rng, rng() % 10 == 0, tally);
      });

    // RSS: the peak over the second half of the warm-up (first 25%) against the peak over the last 25%.
    long warm = 0, late = 0;
    while (Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      const double f = std::chrono::duration<double>(Clock::now() - start).count() / seconds;
      const long rss = server.rss_kib();
      if (f > 0.125 && f <= 0.25) warm = std::max(warm, rss);
      if (f > 0.75) late = std::max(late, rss);
    }
    for (auto& t : clients) t.join();

    qInfo("completed %d, hung up %d, resets %d, bad %d; RSS warm %ld KiB, late %ld KiB", tally.completed, tally.hung_up,
          tally.resets, tally.bad, warm, late);
    for (const auto& p : tally.problems) qWarning("%s", p.c_str());
    QCOMPARE(tally.resets, 0);
    QCOMPARE(tally.bad, 0);
    QVERIFY(tally.completed > 4 * kParallel);
    QVERIFY(warm > 0 && late > 0);
    QVERIFY2(late <= warm + warm / 20, "resident memory grew by 5% or more after warm-up");

    // Everything cancelled or finished: nothing running, no KV in use.
    const auto t0 = Clock::now();
    while (Clock::now() - t0 < std::chrono::seconds(2) && metric(port, "hearth_running_requests") != 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    QCOMPARE(metric(port, "hearth_running_requests"), 0.0);
    QCOMPARE(metric(port, "hearth_kv_blocks{state=\"used\"}"), 0.0);
  }
};

QTEST_APPLESS_MAIN(TestServerSoak)
#include "test_server_soak.moc"
