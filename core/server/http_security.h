#pragma once
// Checks the server applies before any handler runs (pure functions, unit-tested):
//  - a loopback bind answers only requests whose Host is a loopback name (DNS rebinding: a web
//    page on evil.example resolving to 127.0.0.1 still sends "Host: evil.example");
//  - the API key, when set, as "Authorization: Bearer KEY", compared in constant time;
//  - CORS: an Origin is allowed only if it is in the configured allowlist (exact match).
#include <string>
#include <string_view>
#include <vector>

namespace hearth::server {

// "127.0.0.1", "127.x.y.z", "localhost", "::1", "[::1]".
bool is_loopback_name(std::string_view host);

// A Host header ("localhost:8080", "[::1]:8080", "127.0.0.1") naming a loopback host.
bool host_header_is_loopback(std::string_view host_header);

bool authorization_matches(std::string_view authorization_header, std::string_view api_key);

bool origin_allowed(std::string_view origin, const std::vector<std::string>& allowlist);

}  // namespace hearth::server
