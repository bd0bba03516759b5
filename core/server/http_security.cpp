#include "core/server/http_security.h"

#include <algorithm>
#include <cctype>

namespace hearth::server {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// 127.a.b.c with each part 0..255.
bool is_ipv4_loopback(std::string_view h) {
  int parts = 0;
  size_t start = 0;
  while (true) {
    const size_t dot = h.find('.', start);
    const std::string_view part = h.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!all_digits(part) || part.size() > 3 || std::stoi(std::string(part)) > 255) return false;
    if (parts == 0 && part != "127") return false;
    ++parts;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return parts == 4;
}

}  // namespace

bool is_loopback_name(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);  // "localhost." is the same name
  return iequals(host, "localhost") || host == "::1" || is_ipv4_loopback(host);
}

bool host_header_is_loopback(std::string_view h) {
  if (h.empty()) return false;
  std::string_view host = h;
  if (h.front() == '[') {  // [v6]:port
    const size_t close = h.find(']');
    if (close == std::string_view::npos) return false;
    const std::string_view rest = h.substr(close + 1);
    if (!rest.empty() && !(rest.front() == ':' && all_digits(rest.substr(1)))) return false;
    host = h.substr(0, close + 1);
  } else if (std::count(h.begin(), h.end(), ':') > 1) {
    host = h;  // a bare IPv6 address: no port can follow without brackets
  } else if (const size_t colon = h.rfind(':'); colon != std::string_view::npos) {
    if (!all_digits(h.substr(colon + 1))) return false;
    host = h.substr(0, colon);
  }
  return is_loopback_name(host);
}

bool authorization_matches(std::string_view header, std::string_view api_key) {
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() < kBearer.size() || !iequals(header.substr(0, kBearer.size()), kBearer)) return false;
  const std::string_view given = header.substr(kBearer.size());
  // Constant time in the key's content: every byte is looked at whatever matches.
  unsigned char diff = given.size() == api_key.size() ? 0 : 1;
  for (size_t i = 0; i < api_key.size(); ++i) {
    const unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff |= static_cast<unsigned char>(g ^ static_cast<unsigned char>(api_key[i]));
  }
  return diff == 0 && !api_key.empty();
}

bool origin_allowed(std::string_view origin, const std::vector<std::string>& allowlist) {
  return !origin.empty() && std::any_of(allowlist.begin(), allowlist.end(), [&](const std::string& a) { return a == origin; });
}

}  // namespace hearth::server
