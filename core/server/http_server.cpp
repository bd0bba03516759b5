#include "core/server/http_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>

#include "core/common/error.h"
#include "core/constrain/json_constraint.h"
#include "core/server/api_error.h"
#include "core/server/client_connection.h"
#include "core/server/http_security.h"
#include "core/server/server_metrics.h"
#include "core/server/tool_calls.h"

namespace hearth::server {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
constexpr auto kPollInterval = std::chrono::milliseconds(200);  // how often waits look at the client
constexpr int kListenBacklog = 256;  // connections the kernel holds until the accept loop takes them

// The events of one API call (n engine requests), queued by the engine's sinks (engine thread)
// for the HTTP worker thread that answers the call.
struct CallState {
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::pair<int, RequestEvent>> events;  // (choice index, event)
  std::vector<uint64_t> ids;                        // engine request id per submitted choice
  std::vector<bool> finished;
  std::vector<Clock::time_point> last_delta;
  int submitted = 0;
  int n_finished = 0;
  bool all_finished() const { return n_finished == static_cast<int>(finished.size()); }
};

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  if (e.status == 503) res.set_header("Retry-After", "1");
  if (e.status == 401) res.set_header("WWW-Authenticate", "Bearer");
  res.set_content(dump_json(error_body(e)), "application/json");
}

std::string endpoint_label(const std::string& path) {
  for (const char* known : {"/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics"})
    if (path == known) return known;
  if (path.rfind("/v1/models/", 0) == 0) return "/v1/models/{id}";
  return "other";
}

std::string random_id(const char* prefix) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device rd;
  std::string id = prefix;
  for (int i = 0; i < 24; ++i) id += kHex[rd() % 16];
  return id;
}

// message.tool_calls / delta.tool_calls entries; streaming deltas carry each call's index.
json tool_calls_json(const std::vector<ParsedToolCall>& calls, bool with_index) {
  json out = json::array();
  for (size_t k = 0; k < calls.size(); ++k) {
    json c = {{"id", random_id("call_")}, {"type", "function"},
              {"function", {{"name", calls[k].name}, {"arguments", calls[k].arguments}}}};
    if (with_index) c["index"] = k;
    out.push_back(std::move(c));
  }
  return out;
}

int64_t unix_time() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

struct HttpServer::Impl {
  Engine& engine;
  ServerOptions options;
  httplib::Server http;
  std::shared_ptr<ServerMetrics> metrics = std::make_shared<ServerMetrics>();  // sinks may outlive us
  // Token tries for constrained output, one per loaded tokenizer (requests' constraints share it).
  std::shared_ptr<constrain::TokenTrieCache> tries = std::make_shared<constrain::TokenTrieCache>();
  std::atomic<bool> stopping{false};

  Impl(Engine& e, ServerOptions o) : engine(e), options(std::move(o)) {}

  void cancel_unfinished(CallState& st) {
    std::vector<uint64_t> ids;
    {
      std::lock_guard lock(st.mutex);
      for (int i = 0; i < st.submitted; ++i)
        if (!st.finished[static_cast<size_t>(i)]) ids.push_back(st.ids[static_cast<size_t>(i)]);
    }
    for (uint64_t id : ids) engine.cancel(id);
  }

  // Submits the call's n choices; on a failure cancels those already running and throws ApiError.
  std::shared_ptr<CallState> submit(const ApiCall& call) {
    auto st = std::make_shared<CallState>();
    const auto n = static_cast<size_t>(call.n);
    st->ids.assign(n, 0);
    st->finished.assign(n, false);
    st->last_delta.assign(n, Clock::time_point{});
    for (int i = 0; i < call.n; ++i) {
      Request r = call.request;
      r.sampling.seed += static_cast<uint64_t>(i);  // choices differ, and stay reproducible
      auto sink = [st, i, m = metrics](const RequestEvent& e) {
        const auto idx = static_cast<size_t>(i);
        std::lock_guard lock(st->mutex);
        if (e.kind == RequestEvent::Kind::kDelta) {
          const auto now = Clock::now();
          if (st->last_delta[idx] != Clock::time_point{})
            m->observe_inter_token_latency(std::chrono::duration<double>(now - st->last_delta[idx]).count());
          st->last_delta[idx] = now;
        } else if (e.kind == RequestEvent::Kind::kFinished) {
          if (!st->finished[idx]) {
            st->finished[idx] = true;
            ++st->n_finished;
          }
          m->add_tokens(e.usage.prompt_tokens, e.usage.completion_tokens);
          m->count_finish(e.finish_reason);
          if (e.usage.completion_tokens > 0) m->observe_time_to_first_token(e.timings.time_to_first_token_ms / 1000.0);
        }
        st->events.emplace_back(i, e);
        st->cv.notify_all();
      };
      try {
        // Not under st->mutex: the engine thread may hold its own lock while it calls sinks. A
        // choice finishing before its id is stored is already finished, so never needs a cancel.
        const uint64_t id = engine.submit(std::move(r), std::move(sink));
        std::lock_guard lock(st->mutex);
        st->ids[static_cast<size_t>(i)] = id;
        ++st->submitted;
      } catch (const QueueFullError& e) {
        cancel_unfinished(*st);
        throw ApiError(503, std::string("the server is busy: ") + e.what(), "", "queue_full", "server_overloaded");
      } catch (const Error& e) {
        cancel_unfinished(*st);
        const std::string message = e.what();
        if (message.find("no model is loaded") != std::string::npos) throw ApiError(503, message, "", "model_not_loaded", "server_error");
        const bool overflow = message.find("tokens, but") != std::string::npos;
        throw ApiError(400, message, call.kind == ApiCall::Kind::kChat ? "messages" : "prompt",
                       overflow ? "context_length_exceeded" : "");
      }
    }
    return st;
  }

  ApiCall parse(const httplib::Request& req, ApiCall::Kind kind) {
    const json body = parse_json_body(req.body);
    ApiCall call = kind == ApiCall::Kind::kChat ? parse_chat_request(body, options.limits) : parse_completion_request(body, options.limits);
    if (call.model != options.model_id)
      throw ApiError(404, "The model '" + call.model + "' does not exist (this server has '" + options.model_id + "')", "model", "model_not_found");
    call.request.cache_group = options.cache_group;
    if (call.tools_active() && options.chat_template.find("tools") == std::string::npos)
      throw ApiError(400, "this model's chat template does not support tools (it never reads a 'tools' variable)", "tools");
    if (call.grammar) {
      constrain::JsonGrammar g = *call.grammar;
      g.token_budget = call.request.max_tokens;  // close the JSON in time to end whole
      call.request.constraint = constrain::json_constraint_factory(tries, std::move(g));
    }
    return call;
  }

  static json logprobs_for(const ApiCall& call, const std::vector<TokenLogprob>& lps, const TokenText& tt, size_t offset) {
    if (!call.logprobs) return nullptr;
    if (call.kind == ApiCall::Kind::kChat) return {{"content", chat_logprob_entries(lps, tt)}};
    return completion_logprobs(lps, tt, offset);
  }

  static void throw_if_failed(const RequestEvent& f) {
    if (f.finish_reason == "error") throw ApiError(500, "generation failed: " + f.error, "", "", "server_error");
    if (f.finish_reason == "cancelled") throw ApiError(503, "the request was cancelled (the server is stopping or the model changed)", "", "", "server_error");
  }

  void answer_whole(const ApiCall& call, const httplib::Request& req, httplib::Response& res) {
    const ClientConnection client(req);
    auto st = submit(call);
    const auto n = static_cast<size_t>(call.n);
    std::vector<std::string> texts(n);
    std::vector<std::vector<TokenLogprob>> lps(n);
    std::vector<RequestEvent> finish(n);
    {
      std::unique_lock lock(st->mutex);
      while (true) {
        st->cv.wait_for(lock, kPollInterval, [&] { return !st->events.empty(); });
        for (auto& [i, e] : st->events) {
          const auto idx = static_cast<size_t>(i);
          if (e.kind == RequestEvent::Kind::kDelta) {
            texts[idx] += e.text;
            lps[idx].insert(lps[idx].end(), e.logprobs.begin(), e.logprobs.end());
          } else if (e.kind == RequestEvent::Kind::kFinished) {
            finish[idx] = e;
          }
        }
        st->events.clear();
        if (st->all_finished()) break;
        if (stopping) {
          lock.unlock();
          cancel_unfinished(*st);
          throw ApiError(503, "the server is stopping", "", "", "server_error");
        }
        if (client.gone()) {  // nobody will read the answer: free the engine now
          lock.unlock();
          cancel_unfinished(*st);
          throw ApiError(499, "the client closed the connection", "", "", "client_closed");
        }
      }
    }
    const bool chat = call.kind == ApiCall::Kind::kChat;
    json choices = json::array();
    int64_t completion_tokens = 0;
    for (size_t i = 0; i < n; ++i) {
      throw_if_failed(finish[i]);
      completion_tokens += finish[i].usage.completion_tokens;
      std::string reason = openai_finish_reason(finish[i].finish_reason);
      json c = {{"index", i}, {"logprobs", logprobs_for(call, lps[i], options.token_text, 0)}};
      if (chat) {
        json message = {{"role", "assistant"}, {"content", texts[i]}};
        if (call.tools_active()) {
          const ParsedOutput parsed = parse_tool_calls(texts[i]);
          if (!parsed.calls.empty()) {
            message["content"] = parsed.content.empty() ? json(nullptr) : json(parsed.content);
            message["tool_calls"] = tool_calls_json(parsed.calls, false);
            reason = "tool_calls";
          }
        }
        c["message"] = std::move(message);
      } else {
        c["text"] = texts[i];
      }
      c["finish_reason"] = reason;
      choices.push_back(std::move(c));
    }
    const json body = {{"id", random_id(chat ? "chatcmpl-" : "cmpl-")},
                       {"object", chat ? "chat.completion" : "text_completion"},
                       {"created", unix_time()},
                       {"model", options.model_id},
                       {"choices", choices},
                       {"usage", usage_json(finish[0].usage.prompt_tokens, completion_tokens, finish[0].usage.cached_tokens)}};
    res.set_content(dump_json(body), "application/json");
  }

  // The state of one SSE response between calls of the content provider.
  struct Stream {
    ApiCall call;
    std::shared_ptr<CallState> st;
    std::string id;
    int64_t created = 0;
    bool started = false, failed = false;
    std::vector<size_t> text_bytes;  // per choice, for completion logprob offsets
    std::vector<ToolCallStreamFilter> tool_filters;  // per choice, when tools are offered
    // The client's socket: a client that hangs up while its request waits in the engine's queue
    // (nothing is written, so no write can fail) is noticed here and its request cancelled.
    std::unique_ptr<ClientConnection> client;
    int64_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
  };

  json chunk(const Stream& s, size_t index, json choice_fields) const {
    const bool chat = s.call.kind == ApiCall::Kind::kChat;
    choice_fields["index"] = index;
    return {{"id", s.id}, {"object", chat ? "chat.completion.chunk" : "text_completion"}, {"created", s.created},
            {"model", options.model_id}, {"choices", json::array({choice_fields})}};
  }

  // One content-provider step: wait briefly for events, write them as SSE. false: end (client gone).
  bool pump(Stream& s, httplib::DataSink& sink) {
    if (stopping) return false;
    const bool chat = s.call.kind == ApiCall::Kind::kChat;
    std::string out;
    if (!s.started) {
      s.started = true;
      if (chat)
        for (size_t i = 0; i < static_cast<size_t>(s.call.n); ++i)
          out += sse_data(chunk(s, i, {{"delta", {{"role", "assistant"}, {"content", ""}}}, {"logprobs", nullptr}, {"finish_reason", nullptr}}));
    }
    std::deque<std::pair<int, RequestEvent>> batch;
    bool all_finished = false;
    {
      std::unique_lock lock(s.st->mutex);
      s.st->cv.wait_for(lock, kPollInterval, [&] { return !s.st->events.empty(); });
      batch.swap(s.st->events);
      all_finished = s.st->all_finished();
    }
    if (batch.empty() && s.client && s.client->gone()) return false;
    bool cancel_rest = false;
    for (auto& [i, e] : batch) {
      const auto idx = static_cast<size_t>(i);
      if (e.kind == RequestEvent::Kind::kDelta) {
        if (e.text.empty() && e.logprobs.empty()) continue;
        json lp = logprobs_for(s.call, e.logprobs, options.token_text, s.text_bytes[idx]);
        s.text_bytes[idx] += e.text.size();
        // With tools, text that may be a tool call is held back until the choice finishes.
        const std::string text = s.tool_filters.empty() ? e.text : s.tool_filters[idx].push(e.text);
        if (text.empty() && e.logprobs.empty()) continue;
        if (chat) out += sse_data(chunk(s, idx, {{"delta", {{"content", text}}}, {"logprobs", lp}, {"finish_reason", nullptr}}));
        else out += sse_data(chunk(s, idx, {{"text", text}, {"logprobs", lp}, {"finish_reason", nullptr}}));
      } else if (e.kind == RequestEvent::Kind::kFinished) {
        if (e.finish_reason == "error" || e.finish_reason == "cancelled") {
          if (!s.failed) {
            const std::string msg = e.finish_reason == "error" ? "generation failed: " + e.error : "the request was cancelled";
            out += sse_data(error_body(msg, "server_error", "", ""));
          }
          s.failed = true;
          cancel_rest = true;
          continue;
        }
        s.prompt_tokens = e.usage.prompt_tokens;
        s.cached_tokens = e.usage.cached_tokens;
        s.completion_tokens += e.usage.completion_tokens;
        std::string reason = openai_finish_reason(e.finish_reason);
        if (!s.tool_filters.empty()) {
          const ParsedOutput held = s.tool_filters[idx].finish();
          if (!held.content.empty())
            out += sse_data(chunk(s, idx, {{"delta", {{"content", held.content}}}, {"logprobs", nullptr}, {"finish_reason", nullptr}}));
          if (!held.calls.empty()) {
            out += sse_data(chunk(s, idx, {{"delta", {{"tool_calls", tool_calls_json(held.calls, true)}}}, {"logprobs", nullptr}, {"finish_reason", nullptr}}));
            reason = "tool_calls";
          }
        }
        if (chat) out += sse_data(chunk(s, idx, {{"delta", json::object()}, {"logprobs", nullptr}, {"finish_reason", reason}}));
        else out += sse_data(chunk(s, idx, {{"text", ""}, {"logprobs", nullptr}, {"finish_reason", reason}}));
      }
    }
    if (cancel_rest) cancel_unfinished(*s.st);
    if (all_finished) {
      if (s.call.include_usage && !s.failed) {
        json u = {{"id", s.id}, {"object", chat ? "chat.completion.chunk" : "text_completion"}, {"created", s.created},
                  {"model", options.model_id}, {"choices", json::array()},
                  {"usage", usage_json(s.prompt_tokens, s.completion_tokens, s.cached_tokens)}};
        out += sse_data(u);
      }
      out += kSseDone;
    }
    if (!out.empty() && !sink.write(out.data(), out.size())) return false;
    if (all_finished) sink.done();
    return true;
  }

  void answer_stream(const ApiCall& call, const httplib::Request& req, httplib::Response& res) {
    auto s = std::make_shared<Stream>();
    s->call = call;
    s->client = std::make_unique<ClientConnection>(req);
    s->st = submit(call);  // throws before any byte is sent: errors keep their status
    s->id = random_id(call.kind == ApiCall::Kind::kChat ? "chatcmpl-" : "cmpl-");
    s->created = unix_time();
    s->text_bytes.assign(static_cast<size_t>(call.n), 0);
    if (call.kind == ApiCall::Kind::kChat && call.tools_active()) s->tool_filters.resize(static_cast<size_t>(call.n));
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream", [this, s](size_t, httplib::DataSink& sink) { return pump(*s, sink); },
        [this, s](bool) { cancel_unfinished(*s->st); });  // the client left or the stream ended
  }

  void handle_generation(const httplib::Request& req, httplib::Response& res, ApiCall::Kind kind) {
    ApiCall call = parse(req, kind);
    if (call.stream) answer_stream(call, req, res);
    else answer_whole(call, req, res);
  }

  json model_entry() const {
    return {{"id", options.model_id}, {"object", "model"}, {"created", options.model_created}, {"owned_by", "hearth"}};
  }

  // Host, Origin and API key checks; Handled means the response is already an error (or a preflight).
  // A refused request's body may still be unread: "Connection: close" keeps a client from sending
  // its next request after those bytes.
  httplib::Server::HandlerResponse check_request(const httplib::Request& req, httplib::Response& res) {
    auto handled = check_request_headers(req, res);
    if (handled == httplib::Server::HandlerResponse::Handled && res.status >= 400) res.set_header("Connection", "close");
    return handled;
  }

  httplib::Server::HandlerResponse check_request_headers(const httplib::Request& req, httplib::Response& res) {
    if (is_loopback_name(options.host) && !host_header_is_loopback(req.get_header_value("Host"))) {
      send_error(res, ApiError(403, "the Host header must name this machine (localhost, 127.0.0.1 or [::1])", "", "bad_host", "permission_error"));
      return httplib::Server::HandlerResponse::Handled;
    }
    const std::string origin = req.get_header_value("Origin");
    if (!origin.empty()) {
      if (!origin_allowed(origin, options.cors_origins)) {
        send_error(res, ApiError(403, "requests from origin '" + origin + "' are not allowed (see --cors-origin)", "", "origin_not_allowed", "permission_error"));
        return httplib::Server::HandlerResponse::Handled;
      }
      res.set_header("Access-Control-Allow-Origin", origin);
      res.set_header("Vary", "Origin");
      if (req.method == "OPTIONS") {  // preflight
        res.status = 204;
        res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        const std::string asked = req.get_header_value("Access-Control-Request-Headers");
        res.set_header("Access-Control-Allow-Headers", asked.empty() ? "Authorization, Content-Type" : asked);
        res.set_header("Access-Control-Max-Age", "600");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    if (!options.api_key.empty() && req.path != "/health" &&
        !authorization_matches(req.get_header_value("Authorization"), options.api_key)) {
      send_error(res, ApiError(401, "missing or incorrect API key (send 'Authorization: Bearer KEY')", "", "invalid_api_key", "invalid_request_error"));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  }

  template <class Fn>
  httplib::Server::Handler guarded(Fn fn) {
    return [fn](const httplib::Request& req, httplib::Response& res) {
      try {
        fn(req, res);
      } catch (const ApiError& e) {
        send_error(res, e);
      } catch (const std::exception& e) {
        spdlog::error("server: {} {}: {}", req.method, req.path, e.what());
        send_error(res, ApiError(500, std::string("internal error: ") + e.what(), "", "", "server_error"));
      }
    };
  }

  void install_routes() {
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) { return check_request(req, res); });
    http.Post("/v1/chat/completions", guarded([this](const httplib::Request& req, httplib::Response& res) {
      handle_generation(req, res, ApiCall::Kind::kChat);
    }));
    http.Post("/v1/completions", guarded([this](const httplib::Request& req, httplib::Response& res) {
      handle_generation(req, res, ApiCall::Kind::kCompletion);
    }));
    http.Get("/v1/models", guarded([this](const httplib::Request&, httplib::Response& res) {
      res.set_content(dump_json({{"object", "list"}, {"data", json::array({model_entry()})}}), "application/json");
    }));
    http.Get(R"(/v1/models/(.+))", guarded([this](const httplib::Request& req, httplib::Response& res) {
      const std::string id = req.matches[1];
      if (id != options.model_id) throw ApiError(404, "The model '" + id + "' does not exist", "model", "model_not_found");
      res.set_content(dump_json(model_entry()), "application/json");
    }));
    http.Get("/health", guarded([this](const httplib::Request&, httplib::Response& res) {
      const EngineStats s = engine.stats();
      const bool ready = !s.model_path.empty();
      res.status = ready ? 200 : 503;
      res.set_content(dump_json({{"status", ready ? "ok" : "loading"}, {"running", s.running}, {"queued", s.queued}}), "application/json");
    }));
    http.Get("/metrics", guarded([this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics->render(engine.stats()), "text/plain; version=0.0.4");
    }));
    // Errors httplib produces itself (404 no route, 413 body too large, 400 bad request line) get
    // OpenAI's shape too; bodies a handler already wrote are kept.
    http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      std::string message = "HTTP " + std::to_string(res.status);
      if (res.status == 404) message = "no route for " + req.method + " " + req.path;
      if (res.status == 413) message = "the request body is too large";
      if (res.status == 405) message = "method not allowed";
      res.set_content(dump_json(error_body(message, error_type_for_status(res.status), "", "")), "application/json");
      return httplib::Server::HandlerResponse::Handled;
    }));
    http.set_logger([m = metrics](const httplib::Request& req, const httplib::Response& res) {
      m->count_request(endpoint_label(req.path), res.status);
    });
  }
};

HttpServer::HttpServer(Engine& engine, ServerOptions options) : impl_(std::make_unique<Impl>(engine, std::move(options))) {
  const ServerOptions& o = impl_->options;
  if (!is_loopback_name(o.host) && o.api_key.empty())
    throw Error("serving on '" + o.host + "' (not a loopback address) needs an API key (--api-key)");
  if (o.http_threads < 2) throw Error("the server needs at least 2 HTTP threads");
  auto& http = impl_->http;
  http.new_task_queue = [n = o.http_threads] { return new httplib::ThreadPool(static_cast<size_t>(n)); };
  http.set_payload_max_length(o.max_body_bytes);
  http.set_read_timeout(o.read_timeout_s, 0);
  http.set_write_timeout(o.write_timeout_s, 0);
  http.set_keep_alive_timeout(5);
  http.set_keep_alive_max_count(1000);
  impl_->install_routes();
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind() {
  auto& o = impl_->options;
  if (o.port == 0) {
    const int port = impl_->http.bind_to_any_port(o.host);
    if (port <= 0) throw Error("cannot listen on " + o.host + " (any port)");
    o.port = port;
  } else if (!impl_->http.bind_to_port(o.host, o.port)) {
    throw Error("cannot listen on " + o.host + ":" + std::to_string(o.port) + " (in use, or not an address of this machine)");
  }
  if (!raise_listen_backlog(o.port, kListenBacklog)) spdlog::warn("server: could not raise the listen backlog of port {}", o.port);
  return o.port;
}

void HttpServer::run() { impl_->http.listen_after_bind(); }

void HttpServer::stop() {
  impl_->stopping = true;
  impl_->http.stop();
}

}  // namespace hearth::server
