#pragma once
// An error answered to an HTTP client in OpenAI's shape:
//   {"error": {"message": "...", "type": "invalid_request_error", "param": "temperature", "code": null}}
// Thrown by request parsing and the handlers; the server turns it into a response with `status`.
#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>

namespace hearth::server {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string param = {}, std::string code = {},
           std::string type = "invalid_request_error")
      : std::runtime_error(message), status(status), type(std::move(type)), param(std::move(param)),
        code(std::move(code)) {}

  int status;
  std::string type;
  std::string param;  // the offending field, e.g. "messages[2].content"; empty: none
  std::string code;   // e.g. "context_length_exceeded"; empty: null
};

// The JSON body for an error; empty param/code become null.
inline nlohmann::json error_body(const std::string& message, const std::string& type, const std::string& param,
                                 const std::string& code) {
  nlohmann::json e = {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
  if (!param.empty()) e["param"] = param;
  if (!code.empty()) e["code"] = code;
  return {{"error", e}};
}

inline nlohmann::json error_body(const ApiError& e) { return error_body(e.what(), e.type, e.param, e.code); }

// The error type OpenAI uses for a status without a specific error.
inline const char* error_type_for_status(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    case 503: return "server_overloaded";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

}  // namespace hearth::server
