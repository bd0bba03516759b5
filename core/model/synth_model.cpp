#include "core/model/synth_model.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numbers>
#include <optional>
#include <unordered_map>

#include "core/common/error.h"
#include "core/gguf/gguf_file.h"
#include "kernels/cpu/thread_pool.h"

namespace hearth {

namespace {

// ---------------------------------------------------------------------------------------------
// Vocabulary

// Pieces merged first, as a trained byte-level BPE does: frequent English letter pairs, with
// and without the leading space.
constexpr std::string_view kFrequentPairs[] = {
    " t", " a", "he", "in", "th", "er", " s", "on", "re", "an", " w", " o", "at", "en", "nd", " c", "ou", "es",
    "or", "is", "it", " b", "ed", " f", " p", "ing", "ar", "al", " m", "as", "le", "ic", " d", " h", "ion", "ll",
    "ro", "ent", "st", " l", "om", "ve", " n", "ot", "et", "ow", "ly", " g", "ut", " e", " i", " r", " u", " y",
    " k", " j", " v", " q", " x", " z", "ch", "sh", "ck", "ng", "ea", "ee", "oo", "ai", "ay", "ir", "ur",
};

// Common English words, most frequent first.
constexpr std::string_view kWords[] = {
    "the", "of", "and", "to", "in", "is", "was", "that", "for", "it", "with", "as", "he", "on", "be", "at", "by",
    "this", "had", "not", "are", "but", "from", "or", "have", "an", "they", "which", "one", "you", "were", "her",
    "all", "she", "there", "would", "their", "we", "him", "been", "has", "when", "who", "will", "more", "no", "if",
    "out", "so", "said", "what", "up", "its", "about", "into", "than", "them", "can", "only", "other", "new",
    "some", "could", "time", "these", "two", "may", "then", "do", "first", "any", "my", "now", "such", "like",
    "our", "over", "man", "me", "even", "most", "made", "after", "also", "did", "many", "before", "must",
    "through", "back", "years", "where", "much", "your", "way", "well", "down", "should", "because", "each",
    "just", "those", "people", "how", "too", "little", "state", "good", "very", "make", "world", "still", "own",
    "see", "men", "work", "long", "get", "here", "between", "both", "life", "being", "under", "never", "day",
    "same", "another", "know", "while", "last", "might", "us", "great", "old", "year", "off", "come", "since",
    "against", "go", "came", "right", "used", "take", "three", "house", "small", "found", "thought", "went",
    "say", "part", "once", "general", "high", "upon", "school", "every", "don", "does", "got", "united", "left",
    "number", "course", "war", "until", "always", "away", "something", "fact", "water", "though", "less",
    "public", "put", "think", "almost", "hand", "enough", "far", "took", "head", "yet", "government", "system",
    "better", "set", "told", "nothing", "night", "end", "why", "called", "didn", "eyes", "find", "going", "look",
    "asked", "later", "knew", "point", "next", "program", "city", "business", "give", "group", "toward", "young",
    "let", "room", "president", "side", "social", "given", "present", "several", "order", "national", "possible",
    "rather", "second", "face", "per", "among", "form", "important", "often", "things", "looked", "early",
    "white", "case", "become", "large", "big", "need", "four", "within", "felt", "along", "children", "saw",
    "best", "church", "ever", "least", "power", "development", "light", "thing", "family", "interest", "want",
    "members", "mind", "country", "area", "others", "done", "turned", "although", "open", "problem", "certain",
    "kind", "different", "thus", "began", "door", "help", "sense", "means", "whole", "matter", "perhaps",
    "itself", "york", "times", "human", "law", "line", "above", "name", "example", "action", "company", "hands",
    "local", "show", "whether", "five", "history", "gave", "today", "either", "act", "feet", "across", "taken",
    "past", "quite", "anything", "seen", "having", "death", "week", "experience", "body", "word", "half",
    "really", "field", "am", "car", "words", "already", "themselves", "information", "tell", "together",
    "college", "shall", "money", "period", "held", "keep", "sure", "probably", "free", "seems", "political",
    "real", "cannot", "behind", "miss", "question", "air", "office", "making", "brought", "special", "whose",
    "major", "heard", "problems", "federal", "became", "study", "ago", "moment", "available", "known", "result",
    "street", "economic", "boy", "position", "reason", "change", "south", "board", "individual", "job",
    "society", "areas", "west", "close", "turn", "love", "community", "true", "court", "force", "full", "seem",
    "value", "story", "girl", "little", "happy", "friend", "play", "tree", "sun", "dog", "cat", "bird", "ball",
    "once", "upon", "mom", "dad", "lily", "tim", "ben", "sam", "sue", "toy", "park", "garden", "flower",
};

constexpr std::string_view kSuffixes[] = {"s", "ed", "ing", "er", "ly", "es", "ness", "ment", "tion", "al", "ic",
                                          "ive", "ful", "less", "able", "ist", "ism", "ize", "ous", "est", "y"};

// The GPT-2 byte-to-unicode alphabet: printable Latin-1 bytes stand for themselves; the other 68
// bytes map to code points 256, 257, ... in byte order. Token ids 0..255 follow this order.
std::vector<uint8_t> gpt2_byte_order() {
  std::vector<uint8_t> order;
  auto printable = [](int b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255); };
  for (int b = 0; b < 256; ++b) {
    if (printable(b)) order.push_back(static_cast<uint8_t>(b));
  }
  for (int b = 0; b < 256; ++b) {
    if (!printable(b)) order.push_back(static_cast<uint8_t>(b));
  }
  return order;
}

std::string utf8_of(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// Grows a BPE vocabulary: every new token is the concatenation of two existing ones, recorded as
// a merge in priority order.
class VocabBuilder {
 public:
  explicit VocabBuilder(size_t limit) : limit_(limit) {
    for (uint8_t b : gpt2_byte_order()) {
      byte_id_[b] = static_cast<int32_t>(tokens_.size());
      add_token(byte_to_unicode(b));
    }
  }

  bool full() const { return tokens_.size() >= limit_; }
  size_t size() const { return tokens_.size(); }
  int32_t byte_id(uint8_t b) const { return byte_id_[b]; }

  // The id of tokens[a] + tokens[b], merging it in when new; nullopt when new but full.
  std::optional<int32_t> merge(int32_t a, int32_t b) {
    std::string joined = tokens_[a] + tokens_[b];
    if (const auto it = ids_.find(joined); it != ids_.end()) return it->second;
    if (full()) return std::nullopt;
    merges_.push_back(tokens_[a] + " " + tokens_[b]);
    return add_token(std::move(joined));
  }

  // Makes the raw bytes of `piece` one token by merging left to right ("the" = ("th" + "e")).
  void add_piece(std::string_view piece) {
    if (piece.empty()) return;
    int32_t current = byte_id(static_cast<uint8_t>(piece[0]));
    for (size_t i = 1; i < piece.size(); ++i) {
      const auto next = merge(current, byte_id(static_cast<uint8_t>(piece[i])));
      if (!next) return;
      current = *next;
    }
  }

  std::vector<std::string> take_tokens() { return std::move(tokens_); }
  std::vector<std::string> take_merges() { return std::move(merges_); }

 private:
  int32_t add_token(std::string text) {
    const auto id = static_cast<int32_t>(tokens_.size());
    ids_.emplace(text, id);
    tokens_.push_back(std::move(text));
    return id;
  }

  size_t limit_;
  int32_t byte_id_[256] = {};
  std::vector<std::string> tokens_;
  std::vector<std::string> merges_;
  std::unordered_map<std::string, int32_t> ids_;
};

std::string capitalized(std::string_view word) {
  std::string s(word);
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
  return s;
}

void grow_bpe_tokens(VocabBuilder& v) {
  for (auto pair : kFrequentPairs) v.add_piece(pair);
  for (auto word : kWords) {
    v.add_piece(" " + std::string(word));
    v.add_piece(word);
    v.add_piece(" " + capitalized(word));
  }
  // Numbers: the pre-tokenizers split digit runs into groups of up to three.
  for (int n = 0; n < 100; ++n) v.add_piece(std::string{char('0' + n / 10), char('0' + n % 10)});
  for (int n = 0; n < 1000; ++n) {
    v.add_piece(std::string{char('0' + n / 100), char('0' + n / 10 % 10), char('0' + n % 10)});
  }
  for (auto word : kWords) {
    for (auto suffix : kSuffixes) v.add_piece(" " + std::string(word) + std::string(suffix));
  }
  // Whatever room is left: extend existing tokens by a letter, round after round. Each round
  // makes tokens one letter longer, so it always finds new strings.
  while (!v.full()) {
    const auto snapshot = static_cast<int32_t>(v.size());
    for (int32_t a = 256; a < snapshot && !v.full(); ++a) {
      for (char c = 'a'; c <= 'z' && !v.full(); ++c) v.merge(a, v.byte_id(static_cast<uint8_t>(c)));
    }
  }
}

// Llama 3's 256 special tokens: the named ones at their real offsets from <|begin_of_text|>,
// reserved ones numbered in order around them.
std::vector<std::string> llama3_special_tokens(int64_t count) {
  const std::pair<int64_t, std::string_view> named[] = {
      {0, "<|begin_of_text|>"}, {1, "<|end_of_text|>"}, {4, "<|finetune_right_pad_id|>"},
      {6, "<|start_header_id|>"}, {7, "<|end_header_id|>"}, {8, "<|eom_id|>"}, {9, "<|eot_id|>"},
      {10, "<|python_tag|>"},
  };
  std::vector<std::string> out;
  int reserved = 0;
  for (int64_t i = 0; i < count; ++i) {
    std::string text;
    for (const auto& [offset, name] : named) {
      if (offset == i) text = name;
    }
    if (text.empty()) text = "<|reserved_special_token_" + std::to_string(reserved++) + "|>";
    out.push_back(std::move(text));
  }
  return out;
}

// Qwen's added tokens from <|endoftext|> on; Qwen3 adds four more.
std::vector<std::string> qwen_named_special_tokens(bool qwen3) {
  std::vector<std::string> names = {
      "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
      "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
      "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>",
      "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
  };
  if (qwen3) {
    for (const char* s : {"<tool_response>", "</tool_response>", "<think>", "</think>"}) names.emplace_back(s);
  }
  return names;
}

// ---------------------------------------------------------------------------------------------
// Weights

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t mix64(uint64_t x) { return splitmix64(x); }

uint64_t fnv1a64(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

// out[0..n) = mean + std * N(0, 1), a pure function of (row_seed, n): Box-Muller on two 24-bit
// uniforms drawn from one 64-bit counter-based random number.
void fill_normal_row(uint64_t row_seed, float mean, float std_dev, float* out, uint64_t n) {
  uint64_t state = row_seed;
  constexpr float kTwoPi = 2.0f * std::numbers::pi_v<float>;
  constexpr float kInv24 = 1.0f / 16777216.0f;
  for (uint64_t i = 0; i < n; i += 2) {
    const uint64_t x = splitmix64(state);
    const float u1 = static_cast<float>((x >> 40) + 1) * kInv24;  // (0, 1]
    const float u2 = static_cast<float>(x & 0xFFFFFF) * kInv24;   // [0, 1)
    const float radius = std::sqrt(-2.0f * std::log(u1));
    out[i] = mean + std_dev * radius * std::cos(kTwoPi * u2);
    if (i + 1 < n) out[i + 1] = mean + std_dev * radius * std::sin(kTwoPi * u2);
  }
}

struct WeightDistribution {
  float mean = 0.0f;
  float std_dev = 0.02f;
};

WeightDistribution distribution_for(SynthTensorKind kind, const ModelPreset& p, uint64_t row_length) {
  switch (kind) {
    case SynthTensorKind::kEmbedding:
    case SynthTensorKind::kOutput:
      // With a unit-RMS final hidden state, logits then have a standard deviation of about 3:
      // spread enough that sampling is not uniform, not so much that it is greedy.
      return {0.0f, 3.0f / std::sqrt(static_cast<float>(p.n_embd))};
    case SynthTensorKind::kMatrix:
      // 1/sqrt(fan-in): each projection maps unit-RMS inputs to unit-RMS outputs (0.022 for a
      // 2048-wide row), so every layer moves the residual stream as much as a trained one does
      // and a tied model does not just echo its input token's embedding.
      return {0.0f, 1.0f / std::sqrt(static_cast<float>(row_length))};
    case SynthTensorKind::kNorm: return {1.0f, 0.05f};
    case SynthTensorKind::kBias: return {0.0f, 0.02f};
    case SynthTensorKind::kRopeFactors: return {1.0f, 0.0f};  // computed, not random
  }
  return {};
}

gguf::Value string_array(std::vector<std::string> items) {
  gguf::Array a;
  a.element_type = gguf::ValueType::kString;
  a.items.reserve(items.size());
  for (auto& s : items) a.items.emplace_back(std::move(s));
  return gguf::Value(std::move(a));
}

gguf::Value int32_array(const std::vector<TokenType>& types) {
  gguf::Array a;
  a.element_type = gguf::ValueType::kInt32;
  a.items.reserve(types.size());
  for (auto t : types) a.items.emplace_back(static_cast<int32_t>(t));
  return gguf::Value(std::move(a));
}

gguf::Value u32(int64_t v) { return gguf::Value(static_cast<uint32_t>(v)); }

std::string dims_text(const std::vector<uint64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

void add_metadata(gguf::GgufWriter& w, const ModelPreset& p, QuantTarget type) {
  const std::string arch(p.arch);
  w.set("general.architecture", arch);
  w.set("general.type", "model");
  w.set("general.name", std::string(p.display_name));
  w.set(arch + ".vocab_size", u32(p.n_vocab));
  w.set(arch + ".context_length", u32(p.n_ctx));
  w.set(arch + ".embedding_length", u32(p.n_embd));
  w.set(arch + ".block_count", u32(p.n_layer));
  w.set(arch + ".feed_forward_length", u32(p.n_ff));
  w.set(arch + ".attention.head_count", u32(p.n_head));
  w.set(arch + ".attention.head_count_kv", u32(p.n_head_kv));
  w.set(arch + ".rope.freq_base", gguf::Value(p.rope_base));
  w.set(arch + ".attention.layer_norm_rms_epsilon", gguf::Value(p.rms_eps));
  w.set(arch + ".attention.key_length", u32(p.head_dim));
  w.set(arch + ".attention.value_length", u32(p.head_dim));
  w.set(arch + ".rope.dimension_count", u32(p.head_dim));
  w.set("general.file_type", gguf::Value(llama_file_type(type)));

  auto vocab = synth_vocabulary(p);
  w.set("tokenizer.ggml.model", "gpt2");
  w.set("tokenizer.ggml.pre", vocab.pre);
  w.set("tokenizer.ggml.tokens", string_array(std::move(vocab.tokens)));
  w.set("tokenizer.ggml.token_type", int32_array(vocab.token_types));
  w.set("tokenizer.ggml.merges", string_array(std::move(vocab.merges)));
  w.set("tokenizer.ggml.bos_token_id", u32(vocab.bos_id));
  w.set("tokenizer.ggml.eos_token_id", u32(vocab.eos_id));
  w.set("tokenizer.ggml.eot_token_id", u32(vocab.eot_id));
  if (vocab.pad_id >= 0) w.set("tokenizer.ggml.padding_token_id", u32(vocab.pad_id));
  w.set("tokenizer.ggml.add_bos_token", gguf::Value(vocab.add_bos));
  w.set("tokenizer.chat_template", synth_chat_template(p));
  if (is_quantized_target(type)) w.set("general.quantization_version", gguf::Value(uint32_t{2}));
}

}  // namespace

std::string byte_to_unicode(uint8_t byte) {
  const auto order = gpt2_byte_order();
  // Printable bytes are their own code point; the others are 256 + their rank among non-printables.
  for (size_t i = 0; i < order.size(); ++i) {
    if (order[i] != byte) continue;
    const size_t n_printable = 188;  // 94 + 12 + 82
    return i < n_printable ? utf8_of(byte) : utf8_of(static_cast<uint32_t>(256 + (i - n_printable)));
  }
  return {};
}

std::string encode_bytes_as_unicode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) out += byte_to_unicode(c);
  return out;
}

SyntheticVocabulary synth_vocabulary(const ModelPreset& p) {
  if (p.first_special < 256 || p.first_special > p.n_vocab) {
    throw Error("preset '" + std::string(p.name) + "': first special id " + std::to_string(p.first_special) +
                " leaves no room for the 256 byte tokens");
  }
  VocabBuilder builder(static_cast<size_t>(p.first_special));
  grow_bpe_tokens(builder);

  SyntheticVocabulary v;
  v.tokens = builder.take_tokens();
  v.merges = builder.take_merges();
  v.token_types.assign(v.tokens.size(), TokenType::kNormal);

  const int64_t n_special = p.n_vocab - p.first_special;
  const int64_t base = p.first_special;
  if (p.is_llama3_family()) {
    for (auto& s : llama3_special_tokens(n_special)) {
      v.tokens.push_back(std::move(s));
      v.token_types.push_back(TokenType::kControl);
    }
    v.pre = "llama-bpe";
    v.bos_id = base + 0;  // <|begin_of_text|>
    v.eos_id = base + 9;  // <|eot_id|>, as in the instruct models' GGUF files
    v.eot_id = base + 9;
    v.add_bos = true;
  } else {
    auto named = qwen_named_special_tokens(p.arch == "qwen3");
    if (static_cast<int64_t>(named.size()) > n_special) {
      throw Error("preset '" + std::string(p.name) + "': no room for Qwen's special tokens");
    }
    for (auto& s : named) {
      v.tokens.push_back(std::move(s));
      v.token_types.push_back(TokenType::kControl);
    }
    // The embedding matrix is padded past the tokenizer's tokens; converters name these [PADn].
    for (auto id = static_cast<int64_t>(v.tokens.size()); id < p.n_vocab; ++id) {
      v.tokens.push_back("[PAD" + std::to_string(id) + "]");
      v.token_types.push_back(TokenType::kUnused);
    }
    v.pre = "qwen2";
    v.bos_id = base + 0;  // <|endoftext|>
    v.eos_id = base + 2;  // <|im_end|>
    v.eot_id = base + 2;
    v.pad_id = base + 0;
    v.add_bos = false;
  }
  return v;
}

std::string synth_chat_template(const ModelPreset& p) {
  if (p.is_llama3_family()) {
    return R"({% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %})";
  }
  if (p.arch == "qwen2") {
    // ChatML with Qwen2.5's default system message.
    return R"({%- for message in messages %}{%- if loop.first and messages[0]['role'] != 'system' %}{{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}{%- endif %}{{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %})";
  }
  return R"({%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %})";
}

std::vector<SynthTensor> synth_tensor_list(const ModelPreset& p) {
  const auto embd = static_cast<uint64_t>(p.n_embd);
  const auto q_dim = static_cast<uint64_t>(p.n_head * p.head_dim);
  const auto kv_dim = static_cast<uint64_t>(p.n_head_kv * p.head_dim);
  const auto ff = static_cast<uint64_t>(p.n_ff);
  const auto head = static_cast<uint64_t>(p.head_dim);
  std::vector<SynthTensor> list;
  list.push_back({"token_embd.weight", {embd, static_cast<uint64_t>(p.n_vocab)}, SynthTensorKind::kEmbedding});
  if (p.rope_scaling) list.push_back({"rope_freqs.weight", {head / 2}, SynthTensorKind::kRopeFactors});
  list.push_back({"output_norm.weight", {embd}, SynthTensorKind::kNorm});
  if (!p.tied_output) {
    list.push_back({"output.weight", {embd, static_cast<uint64_t>(p.n_vocab)}, SynthTensorKind::kOutput});
  }
  for (int64_t i = 0; i < p.n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    list.push_back({b + "attn_norm.weight", {embd}, SynthTensorKind::kNorm});
    list.push_back({b + "attn_q.weight", {embd, q_dim}, SynthTensorKind::kMatrix});
    list.push_back({b + "attn_k.weight", {embd, kv_dim}, SynthTensorKind::kMatrix});
    list.push_back({b + "attn_v.weight", {embd, kv_dim}, SynthTensorKind::kMatrix});
    if (p.qkv_bias) {
      list.push_back({b + "attn_q.bias", {q_dim}, SynthTensorKind::kBias});
      list.push_back({b + "attn_k.bias", {kv_dim}, SynthTensorKind::kBias});
      list.push_back({b + "attn_v.bias", {kv_dim}, SynthTensorKind::kBias});
    }
    if (p.qk_norm) {
      list.push_back({b + "attn_q_norm.weight", {head}, SynthTensorKind::kNorm});
      list.push_back({b + "attn_k_norm.weight", {head}, SynthTensorKind::kNorm});
    }
    list.push_back({b + "attn_output.weight", {q_dim, embd}, SynthTensorKind::kMatrix});
    list.push_back({b + "ffn_norm.weight", {embd}, SynthTensorKind::kNorm});
    list.push_back({b + "ffn_gate.weight", {embd, ff}, SynthTensorKind::kMatrix});
    list.push_back({b + "ffn_up.weight", {embd, ff}, SynthTensorKind::kMatrix});
    list.push_back({b + "ffn_down.weight", {ff, embd}, SynthTensorKind::kMatrix});
  }
  return list;
}

void add_synth_model(gguf::GgufWriter& writer, const ModelPreset& preset, const SynthOptions& options,
                     kernels::cpu::ThreadPool& pool) {
  add_metadata(writer, preset, options.type);
  const PlanContext context{.n_layer = preset.n_layer, .has_output = !preset.tied_output};
  auto tensors = synth_tensor_list(preset);
  const size_t n_total = tensors.size();
  for (size_t index = 0; index < n_total; ++index) {
    auto& t = tensors[index];
    const DType type = plan_tensor_type(options.type, t.name, t.dims, DType::F32, context);
    const uint64_t row_length = t.dims[0];
    const uint64_t n_rows = t.dims.size() > 1 ? t.dims[1] : 1;
    const uint64_t tensor_seed = mix64(options.seed ^ fnv1a64(t.name));
    const WeightDistribution dist = distribution_for(t.kind, preset, row_length);
    std::vector<float> fixed_values;  // rope factors: computed, not random
    if (t.kind == SynthTensorKind::kRopeFactors) {
      fixed_values = llama3_rope_factors(*preset.rope_scaling, preset.head_dim, preset.rope_base);
    }
    const std::string line = "[" + std::to_string(index + 1) + "/" + std::to_string(n_total) + "] " + t.name + " " +
                             dims_text(t.dims) + " " + std::string(dtype_name(type));
    auto log = options.log;
    writer.add_tensor(t.name, type, t.dims,
                      [&pool, type, row_length, n_rows, tensor_seed, dist, fixed = std::move(fixed_values), line,
                       log](uint8_t* dst) {
                        const auto start = std::chrono::steady_clock::now();
                        encode_rows_parallel(pool, type, row_length, n_rows, dst, [&](uint64_t r, float* out) {
                          if (!fixed.empty()) {
                            std::memcpy(out, fixed.data(), row_length * sizeof(float));
                            return;
                          }
                          fill_normal_row(mix64(tensor_seed + r * 0xD1B54A32D192ED03ull), dist.mean, dist.std_dev, out,
                                          row_length);
                        });
                        if (log) {
                          const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                          char timing[32];
                          std::snprintf(timing, sizeof timing, " %.2f s", s);
                          log(line + timing);
                        }
                      });
  }
}

void synth_model_file(const std::filesystem::path& path, const ModelPreset& preset, const SynthOptions& options,
                      kernels::cpu::ThreadPool& pool) {
  gguf::GgufWriter writer;
  add_synth_model(writer, preset, options, pool);
  writer.write(path);
}

}  // namespace hearth
