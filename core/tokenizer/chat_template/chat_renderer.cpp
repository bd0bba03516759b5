#include "core/tokenizer/chat_template/chat_renderer.h"

#include <array>
#include <algorithm>
#include <optional>

#include "core/gguf/gguf_file.h"
#include "core/tokenizer/chat_template/builtins.h"

namespace hearth {
namespace {

using chat_template::Value;
using chat_template::ValueDict;
using chat_template::ValueList;

// tokenizer.ggml.token_type values of tokens whose text is parsed from trusted template text.
constexpr int64_t kControlType = 3;
constexpr int64_t kUserDefinedType = 4;

// Placeholder for message content k while locating contents: private-use code points around a
// number, no whitespace (so trim leaves it alone) and nothing a template tests for.
std::string placeholder(size_t k) { return "\xEE\x80\x80" "hearth" + std::to_string(k) + "\xEE\x80\x81"; }

std::string_view strip(std::string_view s, bool left, bool right, std::string_view chars = " \t\n\r\f\v") {
  if (left) {
    const size_t b = s.find_first_not_of(chars);
    s = b == std::string_view::npos ? std::string_view{} : s.substr(b);
  }
  if (right) {
    const size_t e = s.find_last_not_of(chars);
    s = e == std::string_view::npos ? std::string_view{} : s.substr(0, e + 1);
  }
  return s;
}

// The forms a template commonly prints a content in: as is, trimmed, or with a leading
// <think>...</think> block removed (Qwen 3, DeepSeek R1). Longest first.
std::vector<std::string_view> content_variants(std::string_view c) {
  std::vector<std::string_view> v{c, strip(c, true, true), strip(c, true, false), strip(c, false, true),
                                  strip(c, true, true, "\n"), strip(c, true, false, "\n"), strip(c, false, true, "\n")};
  const size_t think = c.rfind("</think>");
  if (think != std::string_view::npos) {
    const std::string_view after = c.substr(think + 8);
    v.insert(v.end(), {after, strip(after, true, false, "\n"), strip(after, true, true)});
  }
  std::sort(v.begin(), v.end(), [](std::string_view a, std::string_view b) { return a.size() > b.size(); });
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

}  // namespace

struct ChatRenderer::Impl {
  const Tokenizer& tokenizer;
  std::string arch;
  bool has_model_template = false;
  std::string model_template;
  std::string template_name;  // empty: the default template
  std::string fallback_name, fallback_source;
  std::string bos_text, eos_text;
  // Control and user-defined token texts by first byte, longest first (equal texts: lowest id),
  // the order the tokenizer's own special-token matcher uses.
  std::array<std::vector<std::pair<std::string, TokenId>>, 256> specials;

  explicit Impl(const Tokenizer& t) : tokenizer(t) {}

  // The special token whose text starts at text[pos], if any, and which lies wholly outside `spans`.
  const std::pair<std::string, TokenId>* special_at(std::string_view text, size_t pos, const std::vector<TextSpan>& spans,
                                                    size_t* span_cursor) const {
    const auto& candidates = specials[static_cast<uint8_t>(text[pos])];
    if (candidates.empty()) return nullptr;
    while (*span_cursor < spans.size() && spans[*span_cursor].end <= pos) ++*span_cursor;
    for (const auto& candidate : candidates) {
      if (text.substr(pos).starts_with(candidate.first)) {
        const size_t end = pos + candidate.first.size();
        // Overlaps an untrusted span when the next span that ends after pos begins before end.
        if (*span_cursor < spans.size() && spans[*span_cursor].begin < end) continue;
        return &candidate;
      }
    }
    return nullptr;
  }

  bool has_special_text(std::string_view text) const {
    for (size_t pos = 0; pos < text.size(); ++pos)
      for (const auto& candidate : specials[static_cast<uint8_t>(text[pos])])
        if (text.substr(pos).starts_with(candidate.first)) return true;
    return false;
  }
};

ChatRenderer::ChatRenderer(const gguf::GgufFile& file, const Tokenizer& tokenizer, std::string_view template_name)
    : impl_(std::make_unique<Impl>(tokenizer)) {
  Impl& m = *impl_;
  m.arch = file.get_string("general.architecture").value_or("");
  m.template_name = std::string(template_name);
  const std::string key = template_name.empty() ? std::string("tokenizer.chat_template")
                                                : "tokenizer.chat_template." + std::string(template_name);
  try {
    if (auto t = file.get_string(key)) {
      m.model_template = std::move(*t);
      m.has_model_template = !m.model_template.empty();
    }
  } catch (const Error&) {
    m.has_model_template = false;  // not a string: treated as absent, render() says so
  }
  std::vector<std::string> special_texts;
  std::optional<std::vector<std::string>> tokens;
  std::optional<std::vector<int64_t>> types;
  try {
    tokens = file.get_string_array("tokenizer.ggml.tokens");
    types = file.get_int_array("tokenizer.ggml.token_type");
  } catch (const Error&) {
    tokens.reset();  // the tokenizer already validated these; a mismatch here means no specials
  }
  if (tokens) {
    auto text_of = [&](TokenId id) { return id >= 0 && static_cast<size_t>(id) < tokens->size() ? (*tokens)[id] : std::string(); };
    m.bos_text = text_of(tokenizer.bos());
    m.eos_text = text_of(tokenizer.eos());
    if (types && types->size() == tokens->size()) {
      for (size_t id = 0; id < tokens->size(); ++id) {
        const std::string& text = (*tokens)[id];
        if (((*types)[id] != kControlType && (*types)[id] != kUserDefinedType) || text.empty()) continue;
        m.specials[static_cast<uint8_t>(text[0])].emplace_back(text, static_cast<TokenId>(id));
        special_texts.push_back(text);
      }
      for (auto& candidates : m.specials)
        std::stable_sort(candidates.begin(), candidates.end(),
                         [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
    }
  }
  auto [name, source] = builtin_chat_template(m.arch, m.bos_text, m.eos_text, special_texts);
  m.fallback_name = std::move(name);
  m.fallback_source = std::move(source);
}

ChatRenderer::~ChatRenderer() = default;
ChatRenderer::ChatRenderer(ChatRenderer&&) noexcept = default;

std::string ChatRenderer::source() const { return impl_->has_model_template ? impl_->model_template : impl_->fallback_source; }
bool ChatRenderer::has_model_template() const { return impl_->has_model_template; }
const std::string& ChatRenderer::fallback_source() const { return impl_->fallback_source; }
const std::string& ChatRenderer::fallback_name() const { return impl_->fallback_name; }

namespace {

// The messages the template sees (a "messages" variable in extra wins over the plain list).
ValueList messages_of(const TemplateInputs& inputs) {
  for (const auto& [name, value] : inputs.extra)
    if (name == "messages") return value.is_list() ? value.list() : ValueList{};
  ValueList out;
  for (const ChatMessage& m : inputs.messages) out.emplace_back(ValueDict{{"role", Value(m.role)}, {"content", Value(m.content)}});
  return out;
}

// Renders `source` with each message content that `needs_span` accepts replaced by placeholder(k)
// (k counts those contents, in order: `contents`), then walks that output against `text`: literal
// parts must match exactly, and each placeholder must match one of its content's variants.
// Returns the spans, or nullopt when the outputs do not align. Only contents that hold control-
// token text are replaced: the others need no protection, and leaving them as they are keeps the
// template's branches (on empty content, on "</think>" in content, ...) the same in both renders.
template <typename Predicate>
std::optional<std::vector<TextSpan>> locate_contents(std::string_view source, const TemplateInputs& inputs,
                                                     const TemplateLimits& limits, const std::string& text,
                                                     const std::vector<std::string>& contents, Predicate needs_span) {
  if (contents.empty()) return std::vector<TextSpan>{};
  ValueList marked;
  size_t k = 0;
  for (const Value& m : messages_of(inputs)) {
    if (!m.is_dict()) { marked.push_back(m); continue; }
    ValueDict copy = m.dict();  // a shallow copy: the original messages stay untouched
    for (auto& [key, value] : copy)
      if (key == "content" && value.is_string() && needs_span(value.as_string())) value = Value(placeholder(k++));
    marked.emplace_back(std::move(copy));
  }
  TemplateInputs probe = inputs;
  probe.extra.erase(std::remove_if(probe.extra.begin(), probe.extra.end(), [](const auto& kv) { return kv.first == "messages"; }),
                    probe.extra.end());
  probe.extra.emplace_back("messages", Value(std::move(marked)));
  std::string with_placeholders;
  try {
    with_placeholders = render_chat_template(source, probe, limits);
  } catch (const Error&) {
    return std::nullopt;
  }
  std::vector<TextSpan> spans;
  size_t at = 0;  // in text
  size_t p = 0;   // in with_placeholders
  const std::string open = "\xEE\x80\x80" "hearth";
  while (p <= with_placeholders.size()) {
    const size_t next = with_placeholders.find(open, p);
    const size_t literal_end = next == std::string::npos ? with_placeholders.size() : next;
    const std::string_view literal = std::string_view(with_placeholders).substr(p, literal_end - p);
    if (std::string_view(text).substr(at, literal.size()) != literal) return std::nullopt;
    at += literal.size();
    if (next == std::string::npos) break;
    const size_t close = with_placeholders.find("\xEE\x80\x81", next);
    if (close == std::string::npos) return std::nullopt;
    // The digits between the markers (a template could print marker-like text itself).
    size_t index = 0;
    const std::string_view digits = std::string_view(with_placeholders).substr(next + open.size(), close - next - open.size());
    if (digits.empty() || digits.size() > 9) return std::nullopt;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      index = index * 10 + static_cast<size_t>(c - '0');
    }
    if (index >= contents.size()) return std::nullopt;
    p = close + 3;
    // The literal that follows tells the variants apart (up to the next placeholder).
    const size_t following_end = std::min(with_placeholders.find(open, p), with_placeholders.size());
    const std::string_view following = std::string_view(with_placeholders).substr(p, following_end - p);
    bool matched = false;
    for (std::string_view variant : content_variants(contents[index])) {
      const std::string_view rest = std::string_view(text).substr(at);
      if (rest.starts_with(variant) && rest.substr(variant.size()).starts_with(following)) {
        if (!variant.empty()) spans.push_back({at, at + variant.size()});
        at += variant.size();
        matched = true;
        break;
      }
    }
    if (!matched) return std::nullopt;
  }
  if (at != text.size()) return std::nullopt;
  return spans;
}

}  // namespace

RenderedPrompt ChatRenderer::render(const TemplateInputs& original, const TemplateLimits& limits) const {
  const Impl& m = *impl_;
  TemplateInputs inputs = original;
  if (inputs.bos_token.empty()) inputs.bos_token = m.bos_text;
  if (inputs.eos_token.empty()) inputs.eos_token = m.eos_text;
  RenderedPrompt out;
  std::string used_source;
  if (m.has_model_template) {
    try {
      out.text = render_chat_template(m.model_template, inputs, limits);
      used_source = m.model_template;
    } catch (const Error& e) {
      out.used_fallback = true;
      out.note = std::string("the model's chat template failed (") + e.what() + "); using the built-in " + m.fallback_name +
                 " template";
    }
  } else {
    out.used_fallback = true;
    out.note = "the model has no chat template" +
               (m.template_name.empty() ? std::string() : " named \"" + m.template_name + "\"") + "; using the built-in " +
               m.fallback_name + " template";
  }
  if (out.used_fallback) {
    out.text = render_chat_template(m.fallback_source, inputs, limits);  // throws only on a limit
    used_source = m.fallback_source;
  }
  std::vector<std::string> contents;  // those with control-token text, in message order
  const auto needs_span = [&m](const std::string& c) { return m.has_special_text(c); };
  for (const Value& msg : messages_of(inputs)) {
    if (!msg.is_dict()) continue;
    if (const Value* c = msg.find("content"); c != nullptr && c->is_string() && needs_span(c->as_string()))
      contents.push_back(c->as_string());
  }
  out.contents_have_special_text = !contents.empty();
  if (auto spans = locate_contents(used_source, inputs, limits, out.text, contents, needs_span)) {
    out.content_spans = std::move(*spans);
  } else {
    out.contents_located = false;
  }
  return out;
}

std::vector<TokenId> ChatRenderer::encode(const RenderedPrompt& prompt, bool add_bos) const {
  const Impl& m = *impl_;
  if (!prompt.contents_located && prompt.contents_have_special_text)
    throw Error("chat template: a message contains control-token text and the template changed that message, so "
                "Hearth cannot keep the text from becoming control tokens; the message was refused");
  std::vector<TokenId> out;
  const std::string_view text = prompt.text;
  // Same splitting as the tokenizer's own special parsing (plain fragments are encoded alone,
  // each gets SentencePiece's dummy prefix), except that no control token is taken from inside
  // a content span: such text stays in its plain fragment.
  size_t plain_start = 0, span_cursor = 0;
  for (size_t pos = 0; pos < text.size();) {
    const auto* found = m.special_at(text, pos, prompt.content_spans, &span_cursor);
    if (found == nullptr) {
      ++pos;
      continue;
    }
    if (pos > plain_start) {
      const auto ids = m.tokenizer.encode(text.substr(plain_start, pos - plain_start), false, false);
      out.insert(out.end(), ids.begin(), ids.end());
    }
    out.push_back(found->second);
    pos += found->first.size();
    plain_start = pos;
  }
  if (plain_start < text.size()) {
    const auto ids = m.tokenizer.encode(text.substr(plain_start), false, false);
    out.insert(out.end(), ids.begin(), ids.end());
  }
  const TokenId bos = m.tokenizer.bos();
  if (add_bos && m.tokenizer.add_bos_by_default() && bos >= 0 && (out.empty() || out.front() != bos))
    out.insert(out.begin(), bos);
  return out;
}

}  // namespace hearth
