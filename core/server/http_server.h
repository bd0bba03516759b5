#pragma once
// The OpenAI-compatible HTTP API over an Engine (cpp-httplib underneath):
//   POST /v1/chat/completions, POST /v1/completions (stream as SSE ending "data: [DONE]", or not),
//   GET /v1/models, GET /v1/models/{id}, GET /health, GET /metrics (Prometheus text).
// Before any handler: Host check on a loopback bind (DNS rebinding), Origin against the CORS
// allowlist (a disallowed Origin is refused: a web page must not drive the model), then the API
// key. Errors are OpenAI's error JSON (api_error.h). A client that goes away cancels its engine
// requests at once: a stream notices when a write fails, a non-streaming call polls its socket.
// response_format json_object and forced tool calls constrain the output (core/constrain); tool
// calls are parsed back out of the text (tool_calls.h) into message.tool_calls / delta.tool_calls.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/engine/engine.h"
#include "core/server/openai_request.h"
#include "core/server/openai_response.h"

namespace hearth::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                       // 0: any free port (bind() returns it)
  std::string api_key;                   // empty: none; required when host is not loopback
  std::vector<std::string> cors_origins; // exact Origin values allowed; empty: CORS off
  int http_threads = 16;                 // worker threads; keep >= 2 x the engine's max_running
  size_t max_body_bytes = 4u << 20;
  int read_timeout_s = 10;               // a client that stalls mid-request is dropped after this
  int write_timeout_s = 10;              // a client that stops reading is dropped after this
  std::string model_id;                  // the name /v1/models lists and requests must use
  RequestLimits limits;
  TokenText token_text;                  // names top-logprob alternatives; optional
  std::string cache_group;               // the engine's persistent prefix-cache group; empty: none
  // The chat template the model renders with (ChatRenderer::source()): tools are offered only
  // when it reads a "tools" variable; otherwise a request with tools is a 400 naming "tools".
  std::string chat_template;
  int64_t model_created = 0;             // /v1/models "created": the model file's mtime (Unix seconds)
};

class HttpServer {
 public:
  // Throws hearth::Error for unsafe options (non-loopback host without an API key).
  HttpServer(Engine& engine, ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int bind();  // binds host:port; returns the port; throws hearth::Error on failure
  void run();  // serves until stop(); call after bind()
  void stop(); // any thread; streams in flight are ended and their requests cancelled

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hearth::server
