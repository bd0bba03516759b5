// import_hf_tokenizer: a Hugging Face tokenizer.json (+ tokenizer_config.json) -> Vocabulary, the
// way a model converter maps each family to tokenizer.ggml.* (llama.cpp's convert_hf_to_gguf
// conventions: special added tokens are control tokens, other added tokens user-defined, gaps in
// the id range become "[PAD<id>]" unused tokens, <0xXX> pieces are byte tokens).
//
// Shapes read (everything else is rejected by name):
//   model:         {"type": "BPE", "vocab": {text: id}, "merges": ["a b" | ["a", "b"]], "byte_fallback",
//                   "ignore_merges", "unk_token"}
//   normalizer:    null | NFC | Prepend("▁") | Replace(" " -> "▁") | Sequence of those
//   pre_tokenizer: null | Split(Regex, Isolated) | ByteLevel | Digits | Split(" ", MergedWithPrevious)
//                  | Sequence of those: the regexes name tokenizer.ggml.pre
//   post_processor: null | ByteLevel | TemplateProcessing([BOS] A [EOS]) | Sequence of those
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <unordered_map>

#include "core/common/error.h"
#include "core/tokenizer/bpe_tokenizer.h"
#include "core/tokenizer/tokenizer_import.h"

namespace hearth {
namespace {

using nlohmann::json;

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581, SentencePiece's space

[[noreturn]] void fail(const std::string& message) { throw FormatError("tokenizer.json: " + message); }

// Nesting depth of `text` outside strings, checked before parsing so a hostile file of a million
// '[' cannot exhaust the stack anywhere.
void check_json_depth(std::string_view text, uint32_t max_depth, const std::string& what) {
  uint32_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) throw FormatError(what + ": JSON nested deeper than " + std::to_string(max_depth));
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
}

json parse_json(std::string_view text, const ImportLimits& limits, const std::string& what) {
  if (text.size() > limits.max_file_bytes) throw FormatError(what + ": larger than the limit");
  check_json_depth(text, limits.max_json_depth, what);
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    throw FormatError(what + ": not valid JSON: " + e.what());
  }
}

// obj[key] when obj is an object holding a non-null key, else nullptr.
const json* member(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string string_member(const json& obj, const char* key, const std::string& where) {
  const json* value = member(obj, key);
  if (value == nullptr || !value->is_string()) fail(where + "." + key + " must be a string");
  return value->get<std::string>();
}

bool bool_member(const json& obj, const char* key, bool fallback, const std::string& where) {
  const json* value = member(obj, key);
  if (value == nullptr) return fallback;
  if (!value->is_boolean()) fail(where + "." + key + " must be true or false");
  return value->get<bool>();
}

std::string type_of(const json& obj, const std::string& where) {
  if (!obj.is_object()) fail(where + " must be an object");
  return string_member(obj, "type", where);
}

// The steps of a component that may be a "Sequence" of steps under `list_key`.
std::vector<const json*> flatten(const json* component, const char* list_key, const std::string& where) {
  std::vector<const json*> steps;
  if (component == nullptr) return steps;
  if (type_of(*component, where) != "Sequence") {
    steps.push_back(component);
    return steps;
  }
  const json* list = member(*component, list_key);
  if (list == nullptr || !list->is_array()) fail(where + "." + list_key + " must be an array");
  for (const json& step : *list) {
    if (type_of(step, where) == "Sequence") fail(where + ": nested Sequence is not supported");
    steps.push_back(&step);
  }
  return steps;
}

// ---- normalizer -------------------------------------------------------------------------------

struct NormalizerShape {
  bool nfc = false;
  bool prepend_space_mark = false;   // Prepend("▁"): SentencePiece's dummy prefix
  bool spaces_to_space_mark = false;  // Replace(" ", "▁")
};

NormalizerShape read_normalizer(const json& root) {
  NormalizerShape shape;
  for (const json* step : flatten(member(root, "normalizer"), "normalizers", "normalizer")) {
    const std::string type = type_of(*step, "normalizer");
    if (type == "NFC") {
      shape.nfc = true;
    } else if (type == "Prepend" && string_member(*step, "prepend", "normalizer") == kSpaceMark) {
      shape.prepend_space_mark = true;
    } else if (type == "Replace") {
      const json* pattern = member(*step, "pattern");
      const json* from = pattern ? member(*pattern, "String") : nullptr;
      if (from == nullptr || *from != " " || string_member(*step, "content", "normalizer") != kSpaceMark) {
        fail("normalizer Replace other than \" \" -> \"\\u2581\" is not supported");
      }
      shape.spaces_to_space_mark = true;
    } else {
      fail("normalizer \"" + type + "\" is not supported");
    }
  }
  return shape;
}

// ---- pre-tokenizer ----------------------------------------------------------------------------

// Markers for steps that are not Split regexes.
constexpr std::string_view kByteLevelRegex = "<ByteLevel use_regex>";
constexpr std::string_view kDigitsIndividual = "<Digits individual>";
constexpr std::string_view kSpaceMergedWithPrevious = "<Split \" \" MergedWithPrevious>";

struct PreTokenizerShape {
  bool byte_level = false;
  std::vector<std::string> steps;  // regexes (as in the file) and markers, in order
};

PreTokenizerShape read_pre_tokenizer(const json& root) {
  PreTokenizerShape shape;
  for (const json* step : flatten(member(root, "pre_tokenizer"), "pretokenizers", "pre_tokenizer")) {
    const std::string type = type_of(*step, "pre_tokenizer");
    if (type == "ByteLevel") {
      if (bool_member(*step, "add_prefix_space", false, "pre_tokenizer")) {
        fail("pre_tokenizer ByteLevel with add_prefix_space is not supported");
      }
      shape.byte_level = true;
      if (bool_member(*step, "use_regex", true, "pre_tokenizer")) shape.steps.emplace_back(kByteLevelRegex);
    } else if (type == "Split") {
      const json* pattern = member(*step, "pattern");
      const std::string behavior = string_member(*step, "behavior", "pre_tokenizer");
      if (bool_member(*step, "invert", false, "pre_tokenizer")) fail("pre_tokenizer Split with invert is not supported");
      if (pattern != nullptr && member(*pattern, "Regex") && behavior == "Isolated") {
        shape.steps.push_back(string_member(*pattern, "Regex", "pre_tokenizer.pattern"));
      } else if (pattern != nullptr && member(*pattern, "String") && *member(*pattern, "String") == " " &&
                 behavior == "MergedWithPrevious") {
        shape.steps.emplace_back(kSpaceMergedWithPrevious);
      } else {
        fail("pre_tokenizer Split with behavior \"" + behavior + "\" and this pattern is not supported");
      }
    } else if (type == "Digits") {
      if (!bool_member(*step, "individual_digits", false, "pre_tokenizer")) fail("pre_tokenizer Digits without individual_digits is not supported");
      shape.steps.emplace_back(kDigitsIndividual);
    } else {
      fail("pre_tokenizer \"" + type + "\" is not supported");
    }
  }
  return shape;
}

// The expressions of the pre-tokenizers Hearth implements, spelled as in tokenizer.json.
constexpr const char* kLlama3Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+";
constexpr const char* kQwen2Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+";
constexpr const char* kDeepseekV3Regexes[] = {
    "\\p{N}{1,3}",
    "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+"
    "[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
};
constexpr const char* kGpt4oRegex =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

std::string pre_name_of(const PreTokenizerShape& shape) {
  const std::vector<std::string>& s = shape.steps;
  const auto is = [&](std::initializer_list<std::string_view> expected) {
    return std::equal(s.begin(), s.end(), expected.begin(), expected.end());
  };
  if (is({kByteLevelRegex})) return "gpt2";
  if (is({kLlama3Regex})) return "llama-bpe";
  if (is({kQwen2Regex})) return "qwen2";
  if (is({kDigitsIndividual, kByteLevelRegex})) return "smollm";
  if (is({kDeepseekV3Regexes[0], kDeepseekV3Regexes[1], kDeepseekV3Regexes[2]})) return "deepseek-v3";
  if (is({kGpt4oRegex})) return "gpt-4o";
  std::string list;
  for (const std::string& step : s) list += "\n  " + step;
  fail("unknown pre-tokenizer (not one Hearth implements), steps:" + (list.empty() ? std::string(" none") : list));
}

// ---- post-processor: BOS / EOS framing ---------------------------------------------------------

struct Framing {
  std::optional<TokenId> bos, eos;  // set when the template adds them
};

TokenId template_token_id(const json& processor, const std::string& name) {
  const json* specials = member(processor, "special_tokens");
  const json* entry = specials ? member(*specials, name.c_str()) : nullptr;
  const json* ids = entry ? member(*entry, "ids") : nullptr;
  if (ids == nullptr || !ids->is_array() || ids->size() != 1 || !(*ids)[0].is_number_integer()) {
    fail("post_processor special token \"" + name + "\" must have exactly one id");
  }
  const int64_t id = (*ids)[0].get<int64_t>();
  if (id < 0 || id > INT32_MAX) fail("post_processor special token \"" + name + "\" has a bad id");
  return static_cast<TokenId>(id);
}

Framing read_post_processor(const json& root) {
  Framing framing;
  for (const json* step : flatten(member(root, "post_processor"), "processors", "post_processor")) {
    const std::string type = type_of(*step, "post_processor");
    if (type == "ByteLevel") continue;  // offsets only
    if (type != "TemplateProcessing") fail("post_processor \"" + type + "\" is not supported");
    const json* single = member(*step, "single");
    if (single == nullptr || !single->is_array()) fail("post_processor.single must be an array");
    std::vector<TokenId> before, after;
    bool seen_sequence = false;
    for (const json& item : *single) {
      if (const json* special = member(item, "SpecialToken")) {
        (seen_sequence ? after : before).push_back(template_token_id(*step, string_member(*special, "id", "SpecialToken")));
      } else if (member(item, "Sequence") && !seen_sequence) {
        seen_sequence = true;
      } else {
        fail("post_processor.single must be [special] $A [special]");
      }
    }
    if (!seen_sequence || before.size() > 1 || after.size() > 1) fail("post_processor.single must be [special] $A [special]");
    if (!before.empty()) framing.bos = before[0];
    if (!after.empty()) framing.eos = after[0];
  }
  return framing;
}

// ---- vocabulary -------------------------------------------------------------------------------

struct AddedToken {
  TokenId id;
  std::string content;
  bool special;
};

TokenId checked_id(const json& value, const ImportLimits& limits, const std::string& where) {
  if (!value.is_number_integer()) fail(where + ": the id must be an integer");
  const int64_t id = value.get<int64_t>();
  if (id < 0 || id >= limits.max_tokens) fail(where + ": id " + std::to_string(id) + " is out of range");
  return static_cast<TokenId>(id);
}

void place_token(std::vector<std::string>& tokens, std::vector<bool>& present, TokenId id, const std::string& text,
                 const ImportLimits& limits) {
  if (text.size() > limits.max_token_bytes) fail("token " + std::to_string(id) + " is longer than the limit");
  if (static_cast<size_t>(id) >= tokens.size()) {
    tokens.resize(static_cast<size_t>(id) + 1);
    present.resize(static_cast<size_t>(id) + 1, false);
  }
  if (present[id] && tokens[id] != text) {
    fail("id " + std::to_string(id) + " names two tokens, \"" + tokens[id] + "\" and \"" + text + "\"");
  }
  tokens[id] = text;
  present[id] = true;
}

std::vector<AddedToken> read_added_tokens(const json& root, const ImportLimits& limits) {
  std::vector<AddedToken> added;
  const json* list = member(root, "added_tokens");
  if (list == nullptr) return added;
  if (!list->is_array()) fail("added_tokens must be an array");
  for (const json& item : *list) {
    const std::string where = "added token " + std::to_string(added.size());
    const json* id = member(item, "id");
    if (id == nullptr) fail(where + " has no id");
    AddedToken token{checked_id(*id, limits, where), string_member(item, "content", where),
                     bool_member(item, "special", false, where)};
    if (token.content.empty()) fail(where + " is empty");
    for (const char* flag : {"lstrip", "rstrip", "single_word"}) {
      if (bool_member(item, flag, false, where)) {
        fail(where + " \"" + token.content + "\" sets " + flag + ", which Hearth does not implement");
      }
    }
    added.push_back(std::move(token));
  }
  return added;
}

std::vector<std::string> read_merges(const json& model, const ImportLimits& limits) {
  std::vector<std::string> merges;
  const json* list = member(model, "merges");
  if (list == nullptr) return merges;
  if (!list->is_array()) fail("model.merges must be an array");
  if (list->size() > limits.max_merges) fail("model.merges has more entries than the limit");
  merges.reserve(list->size());
  for (const json& item : *list) {
    if (item.is_string()) {
      merges.push_back(item.get<std::string>());
    } else if (item.is_array() && item.size() == 2 && item[0].is_string() && item[1].is_string()) {
      merges.push_back(item[0].get<std::string>() + " " + item[1].get<std::string>());
    } else {
      fail("model.merges[" + std::to_string(merges.size()) + "] must be \"a b\" or [\"a\", \"b\"]");
    }
  }
  return merges;
}

bool is_byte_piece(std::string_view text) {
  const auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  return text.size() == 6 && text.starts_with("<0x") && hex(text[3]) && hex(text[4]) && text[5] == '>';
}

// tokenizer_config.json's "bos_token" etc.: a string, {"content": string}, or null.
std::optional<std::string> config_token_text(const json& config, const char* key) {
  const json* value = member(config, key);
  if (value == nullptr) return std::nullopt;
  if (value->is_string()) return value->get<std::string>();
  if (value->is_object()) return string_member(*value, "content", std::string("tokenizer_config.json ") + key);
  throw FormatError(std::string("tokenizer_config.json: ") + key + " must be a string or an object");
}

// SentencePiece-style scores for "llama" vocabularies imported with merges: a piece made by a
// merge scores minus that merge's rank, so readers that merge by score (llama.cpp) get close to
// the ranks; Hearth itself merges by the ranks.
std::vector<float> scores_from_merges(const Vocabulary& vocab) {
  std::unordered_map<std::string_view, TokenId> ids;
  ids.reserve(vocab.tokens.size());
  for (TokenId id = 0; id < vocab.size(); ++id) ids.emplace(vocab.tokens[id], id);
  std::vector<float> scores(vocab.tokens.size(), -1e9f);
  std::vector<bool> scored(vocab.tokens.size(), false);
  for (size_t rank = 0; rank < vocab.merges.size(); ++rank) {
    std::string joined = vocab.merges[rank];
    const size_t space = joined.find(' ');
    if (space == std::string::npos) continue;  // rejected later, when the tokenizer is built
    joined.erase(space, 1);
    const auto it = ids.find(joined);
    if (it == ids.end() || scored[it->second]) continue;
    scores[it->second] = -static_cast<float>(rank);
    scored[it->second] = true;
  }
  for (TokenId id = 0; id < vocab.size(); ++id) {
    if (vocab.type_of(id) != TokenType::kNormal) scores[id] = 0.0f;
  }
  return scores;
}

std::optional<TokenId> find_token(const Vocabulary& vocab, const std::vector<AddedToken>& added, std::string_view text) {
  for (const AddedToken& token : added) {
    if (token.content == text) return token.id;
  }
  for (TokenId id = 0; id < vocab.size(); ++id) {
    if (vocab.tokens[id] == text) return id;
  }
  return std::nullopt;
}

}  // namespace

ImportedTokenizer import_hf_tokenizer(std::string_view tokenizer_json, std::string_view tokenizer_config_json,
                                      const ImportLimits& limits) {
  const json root = parse_json(tokenizer_json, limits, "tokenizer.json");
  const json config = tokenizer_config_json.empty() ? json::object()
                                                     : parse_json(tokenizer_config_json, limits, "tokenizer_config.json");
  if (!root.is_object()) fail("the top level must be an object");
  if (!config.is_object()) throw FormatError("tokenizer_config.json: the top level must be an object");
  const json* model = member(root, "model");
  if (model == nullptr || !model->is_object()) fail("no model");
  const std::string model_type = member(*model, "type") ? string_member(*model, "type", "model") : "BPE";
  if (model_type != "BPE") fail("model type \"" + model_type + "\" is not supported (only BPE)");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (const json* value = member(*model, key); value != nullptr && *value != "") {
      fail(std::string("model.") + key + " is not supported");
    }
  }
  if (const json* dropout = member(*model, "dropout"); dropout != nullptr && *dropout != 0) {
    fail("model.dropout is not supported");
  }

  const NormalizerShape normalizer = read_normalizer(root);
  const PreTokenizerShape pre = read_pre_tokenizer(root);
  const bool byte_fallback = bool_member(*model, "byte_fallback", false, "model");

  ImportedTokenizer out;
  Vocabulary& vocab = out.vocab;
  if (pre.byte_level) {
    if (normalizer.prepend_space_mark || normalizer.spaces_to_space_mark) fail("a byte-level model with a \"\\u2581\" normalizer is not supported");
    if (byte_fallback) fail("a byte-level model with byte_fallback is not supported");
    vocab.model = TokenizerModel::kByteLevelBpe;
    vocab.pre = pre_name_of(pre);
    vocab.add_space_prefix = false;
    vocab.normalization = normalizer.nfc ? Normalization::kNfc : Normalization::kNone;
    const bool ignore_merges = bool_member(*model, "ignore_merges", false, "model");
    if (ignore_merges != BpeTokenizer::pre_ignores_merges(vocab.pre)) {
      fail("model.ignore_merges = " + std::string(ignore_merges ? "true" : "false") + " with pre-tokenizer \"" +
           vocab.pre + "\" is not supported");
    }
  } else if (normalizer.spaces_to_space_mark) {
    if (normalizer.nfc) fail("NFC with a \"\\u2581\" normalizer is not supported");
    for (const std::string& step : pre.steps) {
      if (step != kSpaceMergedWithPrevious) fail("a pre_tokenizer regex with a \"\\u2581\" normalizer is not supported");
    }
    if (bool_member(*model, "ignore_merges", false, "model")) fail("model.ignore_merges with byte fallback is not supported");
    vocab.model = TokenizerModel::kSentencePiece;
    vocab.add_space_prefix = normalizer.prepend_space_mark;
  } else {
    fail("neither a byte-level model (ByteLevel pre-tokenizer) nor a SentencePiece-style one (\" \" -> \"\\u2581\")");
  }

  // Tokens: the model's vocab, then the added tokens (which may repeat vocab entries).
  const json* vocab_json = member(*model, "vocab");
  if (vocab_json == nullptr || !vocab_json->is_object()) fail("model.vocab must be an object");
  if (vocab_json->size() > static_cast<size_t>(limits.max_tokens)) fail("model.vocab has more tokens than the limit");
  std::vector<bool> present;
  for (const auto& [text, id] : vocab_json->items()) {
    place_token(vocab.tokens, present, checked_id(id, limits, "model.vocab[\"" + text + "\"]"), text, limits);
  }
  const std::vector<AddedToken> added = read_added_tokens(root, limits);
  for (const AddedToken& token : added) place_token(vocab.tokens, present, token.id, token.content, limits);
  if (vocab.tokens.empty()) fail("no tokens");

  vocab.types.assign(vocab.tokens.size(), TokenType::kNormal);
  for (size_t id = 0; id < vocab.tokens.size(); ++id) {
    if (!present[id]) {
      vocab.tokens[id] = "[PAD" + std::to_string(id) + "]";
      vocab.types[id] = TokenType::kUnused;
    } else if (vocab.model == TokenizerModel::kSentencePiece && byte_fallback && is_byte_piece(vocab.tokens[id])) {
      vocab.types[id] = TokenType::kByte;
    }
  }
  for (const AddedToken& token : added) vocab.types[token.id] = token.special ? TokenType::kControl : TokenType::kUserDefined;
  if (const json* unk = member(*model, "unk_token")) {
    if (!unk->is_string()) fail("model.unk_token must be a string");
    const auto id = find_token(vocab, added, unk->get<std::string>());
    if (!id) fail("model.unk_token \"" + unk->get<std::string>() + "\" is not a token");
    vocab.unk = *id;
    vocab.types[*id] = TokenType::kUnknown;
  }

  vocab.merges = read_merges(*model, limits);
  if (vocab.model == TokenizerModel::kByteLevelBpe && vocab.merges.empty()) fail("a byte-level model needs merges");
  if (vocab.model == TokenizerModel::kSentencePiece) vocab.scores = scores_from_merges(vocab);

  // Special ids: tokenizer_config.json names them; the post-processor decides what encode() adds.
  const auto config_id = [&](const char* key) -> TokenId {
    const std::optional<std::string> text = config_token_text(config, key);
    if (!text) return -1;
    const auto id = find_token(vocab, added, *text);
    if (!id) throw FormatError(std::string("tokenizer_config.json: ") + key + " \"" + *text + "\" is not a token");
    return *id;
  };
  vocab.bos = config_id("bos_token");
  vocab.eos = config_id("eos_token");
  vocab.pad = config_id("pad_token");
  if (const TokenId unk = config_id("unk_token"); unk >= 0) vocab.unk = unk;
  const Framing framing = read_post_processor(root);
  vocab.add_bos = framing.bos.has_value();
  vocab.add_eos = framing.eos.has_value();
  if (framing.bos) vocab.bos = *framing.bos;
  if (framing.eos) vocab.eos = *framing.eos;
  // End of turn and end of message: the chat markers of the families Hearth knows.
  for (std::string_view marker : {"<|eot_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>"}) {
    const auto id = find_token(vocab, added, marker);
    if (id && *id != vocab.eos) {
      vocab.eot = *id;
      break;
    }
  }
  if (const auto id = find_token(vocab, added, "<|eom_id|>")) vocab.eom = *id;

  // Chat template: a string, or a list of {"name", "template"} whose "default" entry is the main one.
  if (const json* chat = member(config, "chat_template")) {
    const auto check_size = [&](const std::string& text) {
      if (text.size() > limits.max_chat_template_bytes) throw FormatError("tokenizer_config.json: chat_template is larger than the limit");
      return text;
    };
    if (chat->is_string()) {
      out.chat_template = check_size(chat->get<std::string>());
    } else if (chat->is_array()) {
      for (const json& entry : *chat) {
        const std::string name = string_member(entry, "name", "chat_template entry");
        const std::string text = check_size(string_member(entry, "template", "chat_template entry"));
        if (name == "default") out.chat_template = text;
        else out.named_chat_templates.emplace_back(name, text);
      }
    } else {
      throw FormatError("tokenizer_config.json: chat_template must be a string or a list");
    }
  }

  make_tokenizer(vocab);  // validates everything the GGUF reader will check, merges included
  return out;
}

std::string read_limited_file(const std::filesystem::path& path, uint64_t max_bytes) {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) throw Error("cannot read " + path.string() + ": " + ec.message());
  if (size > max_bytes) throw FormatError(path.string() + " is larger than " + std::to_string(max_bytes) + " bytes");
  std::string text(static_cast<size_t>(size), '\0');
  std::FILE* f = std::fopen(path.string().c_str(), "rb");  // c_str() is wchar_t on Windows
  if (f == nullptr) throw Error("cannot open " + path.string());
  const size_t got = std::fread(text.data(), 1, text.size(), f);
  std::fclose(f);
  if (got != text.size()) throw Error("cannot read " + path.string());
  return text;
}

ImportedTokenizer import_hf_tokenizer_dir(const std::filesystem::path& dir, const ImportLimits& limits) {
  const std::filesystem::path json_path = dir / "tokenizer.json";
  if (!std::filesystem::exists(json_path)) throw Error(dir.string() + " has no tokenizer.json");
  const std::string tokenizer_json = read_limited_file(json_path, limits.max_file_bytes);
  const std::filesystem::path config_path = dir / "tokenizer_config.json";
  const std::string config_json =
      std::filesystem::exists(config_path) ? read_limited_file(config_path, limits.max_file_bytes) : std::string();
  try {
    ImportedTokenizer out = import_hf_tokenizer(tokenizer_json, config_json, limits);
    // Newer exports keep the template in its own file.
    const std::filesystem::path template_path = dir / "chat_template.jinja";
    if (out.chat_template.empty() && std::filesystem::exists(template_path)) {
      out.chat_template = read_limited_file(template_path, limits.max_chat_template_bytes);
    }
    return out;
  } catch (const FormatError& e) {
    throw FormatError(dir.string() + ": " + e.what());
  }
}

}  // namespace hearth
