#include "core/server/openai_response.h"

#include <cmath>

namespace hearth::server {

namespace {

nlohmann::json bytes_of(const std::string& s) {
  nlohmann::json b = nlohmann::json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

// JSON has no -inf; a token the sampler ruled out is reported as a very unlikely one.
double finite_logprob(float lp) { return std::isfinite(lp) ? static_cast<double>(lp) : -9999.0; }

std::string text_of(TokenId id, const TokenText& token_text) { return token_text ? token_text(id) : std::string(); }

}  // namespace

std::string openai_finish_reason(const std::string& r) {
  if (r == "length" || r == "context") return "length";
  return "stop";
}

nlohmann::json chat_logprob_entries(const std::vector<TokenLogprob>& logprobs, const TokenText& token_text) {
  nlohmann::json content = nlohmann::json::array();
  for (const TokenLogprob& lp : logprobs) {
    nlohmann::json top = nlohmann::json::array();
    for (const auto& [id, value] : lp.top) {
      const std::string t = text_of(id, token_text);
      top.push_back({{"token", t}, {"logprob", finite_logprob(value)}, {"bytes", bytes_of(t)}});
    }
    content.push_back({{"token", lp.text}, {"logprob", finite_logprob(lp.logprob)}, {"bytes", bytes_of(lp.text)}, {"top_logprobs", top}});
  }
  return content;
}

nlohmann::json completion_logprobs(const std::vector<TokenLogprob>& logprobs, const TokenText& token_text, size_t offset) {
  nlohmann::json tokens = nlohmann::json::array(), values = nlohmann::json::array(), tops = nlohmann::json::array(),
                 offsets = nlohmann::json::array();
  for (const TokenLogprob& lp : logprobs) {
    tokens.push_back(lp.text);
    values.push_back(finite_logprob(lp.logprob));
    nlohmann::json top = nlohmann::json::object();
    for (const auto& [id, value] : lp.top) top[text_of(id, token_text)] = finite_logprob(value);
    tops.push_back(top);
    offsets.push_back(offset);
    offset += lp.text.size();
  }
  return {{"tokens", tokens}, {"token_logprobs", values}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

nlohmann::json usage_json(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}}};
}

std::string dump_json(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

std::string sse_data(const nlohmann::json& j) { return "data: " + dump_json(j) + "\n\n"; }

}  // namespace hearth::server
