// Type checks of the metadata keys Hearth relies on, done once at open so later code can trust
// them: a tokenizer never sees scores of the wrong length, a config never reads a string as a
// layer count.
#include <array>
#include <string>

#include <fmt/format.h>

#include "core/common/error.h"
#include "core/gguf/gguf_file_impl.h"
#include "core/gguf/value_helpers.h"

namespace hearth::gguf {
namespace {

// "No such token": llama.cpp writes -1, which appears as 0xFFFFFFFF in a uint32 field.
bool is_unset_token_id(const Value& v) {
  switch (v.type()) {
    case ValueType::kUint32: return std::get<uint32_t>(v.data) == UINT32_MAX;
    case ValueType::kUint64: return std::get<uint64_t>(v.data) == UINT64_MAX;
    default: return integer_value(v) == -1;
  }
}

class KnownKeyChecker {
 public:
  explicit KnownKeyChecker(const GgufContents& impl) : impl_(impl) {}

  void run() {
    require_scalar("general.alignment", ValueType::kUint32);
    require_scalar("general.architecture", ValueType::kString);

    const Array* tokens = require_array("tokenizer.ggml.tokens", ValueType::kString);
    require_token_parallel("tokenizer.ggml.scores", ValueType::kFloat32, tokens);
    require_token_parallel("tokenizer.ggml.token_type", ValueType::kInt32, tokens);
    require_array("tokenizer.ggml.merges", ValueType::kString);

    // "seperator" is llama.cpp's historical spelling, found in real files.
    constexpr std::array<std::string_view, 10> kSpecialTokens = {
        "bos", "eos", "unknown", "padding", "eot", "eom", "sep", "seperator", "cls", "mask"};
    for (std::string_view name : kSpecialTokens) {
      check_token_id(fmt::format("tokenizer.ggml.{}_token_id", name), tokens);
    }

    if (const Value* arch = impl_.find("general.architecture")) {
      const auto& a = std::get<std::string>(arch->data);
      constexpr std::array<std::string_view, 6> kCounts = {
          "block_count", "context_length", "embedding_length", "feed_forward_length",
          "attention.head_count", "attention.head_count_kv"};
      for (std::string_view suffix : kCounts) require_count(fmt::format("{}.{}", a, suffix));
    }
  }

 private:
  [[noreturn]] void fail(std::string_view key, std::string_view message) const {
    throw FormatError(fmt::format("{}: metadata key '{}' {}", impl_.source, key, message));
  }

  void require_scalar(std::string_view key, ValueType type) const {
    const Value* v = impl_.find(key);
    if (v != nullptr && v->type() != type) {
      fail(key, fmt::format("has type {}, expected {}", describe_type(*v), value_type_name(type)));
    }
  }

  const Array* require_array(std::string_view key, ValueType element_type) const {
    const Value* v = impl_.find(key);
    if (v == nullptr) return nullptr;
    const Array* array = std::get_if<Array>(&v->data);
    if (array == nullptr || array->element_type != element_type) {
      fail(key, fmt::format("has type {}, expected array of {}", describe_type(*v), value_type_name(element_type)));
    }
    return array;
  }

  void require_token_parallel(std::string_view key, ValueType element_type, const Array* tokens) const {
    const Array* array = require_array(key, element_type);
    if (array != nullptr && tokens != nullptr && array->items.size() != tokens->items.size()) {
      fail(key, fmt::format("has {} entries but tokenizer.ggml.tokens has {}", array->items.size(),
                            tokens->items.size()));
    }
  }

  void check_token_id(const std::string& key, const Array* tokens) const {
    const Value* v = impl_.find(key);
    if (v == nullptr) return;
    if (!v->is_integer()) fail(key, fmt::format("has type {}, expected an integer token id", describe_type(*v)));
    if (is_unset_token_id(*v)) return;
    const __int128 id = integer_value(*v);
    if (id < 0) fail(key, fmt::format("is {}, a negative token id", static_cast<int64_t>(id)));
    if (tokens != nullptr && id >= static_cast<__int128>(tokens->items.size())) {
      fail(key, fmt::format("is {}, outside the vocabulary of {} tokens", static_cast<uint64_t>(id),
                            tokens->items.size()));
    }
  }

  void require_count(const std::string& key) const {
    const Value* v = impl_.find(key);
    if (v == nullptr) return;
    if (!v->is_integer()) fail(key, fmt::format("has type {}, expected an integer", describe_type(*v)));
    if (integer_value(*v) < 0) fail(key, fmt::format("is {}, expected a count >= 0", static_cast<int64_t>(integer_value(*v))));
  }

  const GgufContents& impl_;
};

}  // namespace

void check_known_keys(const GgufContents& impl) { KnownKeyChecker(impl).run(); }

}  // namespace hearth::gguf
