// Builders of valid and corrupt GGUF bytes (see corrupt_gguf.h).
#include "tests/core/gguf/corrupt_gguf.h"

#include <cstring>
#include <functional>

#include "kernels/common/dtype.h"

namespace hearth::gguf::testing {
namespace {

// ValueType numbers of the GGUF format, spelled out here so the generator does not depend on
// the reader's headers.
enum : uint32_t { kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
                  kStr = 8, kArr = 9, kU64 = 10, kI64 = 11, kF64 = 12 };
// ggml type ids.
enum : uint32_t { kTF32 = 0, kTF16 = 1, kTQ5_0 = 6, kTQ8_0 = 8, kTQ4_K = 12, kTQ8_K = 15 };

constexpr int kVocab = 8;

std::vector<uint8_t> u32_payload(uint32_t v) { return Bytes().u32(v).bytes(); }
std::vector<uint8_t> str_payload(const std::string& s) { return Bytes().str(s).bytes(); }

std::vector<uint8_t> string_array(int n, const std::string& prefix) {
  Bytes b;
  b.u32(kStr).u64(n);
  for (int i = 0; i < n; ++i) b.str(prefix + std::to_string(i));
  return b.bytes();
}
std::vector<uint8_t> f32_array(int n) {
  Bytes b;
  b.u32(kF32).u64(n);
  for (int i = 0; i < n; ++i) b.f32(-0.5f * i);
  return b.bytes();
}
std::vector<uint8_t> i32_array(int n) {
  Bytes b;
  b.u32(kI32).u64(n);
  for (int i = 0; i < n; ++i) b.i32(i < 3 ? 3 : 1);
  return b.bytes();
}

// `depth` levels of arrays, the innermost holding one uint8.
std::vector<uint8_t> nested_array(int depth) {
  Bytes b;
  for (int d = 0; d < depth - 1; ++d) b.u32(kArr).u64(1);
  b.u32(kU8).u64(1).u8(7);
  return b.bytes();
}

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace

Bytes& Bytes::raw(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  bytes_.insert(bytes_.end(), b, b + n);
  return *this;
}

std::vector<uint8_t> RawGguf::encode(RawSections* sections) const {
  RawSections s;
  Bytes b;
  b.raw(magic.data(), 4).u32(version);
  b.u64(tensor_count.value_or(tensors.size())).u64(kv_count.value_or(kvs.size()));
  for (const RawKv& kv : kvs) {
    s.kv_starts.push_back(b.bytes().size());
    if (kv.verbatim) {
      b.append(*kv.verbatim);
    } else {
      b.str(kv.key).u32(kv.type).append(kv.payload);
    }
  }
  for (const RawTensor& t : tensors) {
    s.tensor_info_starts.push_back(b.bytes().size());
    b.str(t.name).u32(static_cast<uint32_t>(t.dims.size()));
    for (uint64_t d : t.dims) b.u64(d);
    b.u32(t.type).u64(t.offset);
  }
  s.header_end = b.bytes().size();
  s.data_start = align_up(s.header_end, pad_alignment);
  std::vector<uint8_t> out = b.bytes();
  out.resize(s.data_start, 0);
  for (uint64_t i = 0; i < data_bytes; ++i) out.push_back(static_cast<uint8_t>(i * 7 + 1));
  if (sections) *sections = s;
  return out;
}

void RawGguf::place_tensors() {
  uint64_t offset = 0;
  for (RawTensor& t : tensors) {
    t.offset = align_up(offset, pad_alignment);
    uint64_t n = 64;
    if (auto traits = dtype_traits(t.type)) {
      uint64_t rows = 1;
      for (size_t i = 1; i < t.dims.size(); ++i) rows *= t.dims[i];
      n = *row_bytes(traits->type, t.dims[0]) * rows;
    }
    offset = t.offset + n;
  }
  data_bytes = offset;
}

RawKv* RawGguf::find(const std::string& key) {
  for (RawKv& kv : kvs) {
    if (kv.key == key) return &kv;
  }
  return nullptr;
}

void RawGguf::set(const std::string& key, uint32_t type, std::vector<uint8_t> payload) {
  if (RawKv* kv = find(key)) {
    kv->type = type;
    kv->payload = std::move(payload);
  } else {
    kvs.push_back(RawKv{key, type, std::move(payload), std::nullopt});
  }
}

RawGguf small_valid_raw() {
  RawGguf g;
  g.set("general.architecture", kStr, str_payload("llama"));
  g.set("general.name", kStr, str_payload("corrupt-test"));
  g.set("tokenizer.ggml.tokens", kArr, string_array(kVocab, "tok"));
  g.set("tokenizer.ggml.scores", kArr, f32_array(kVocab));
  g.set("tokenizer.ggml.token_type", kArr, i32_array(kVocab));
  g.set("tokenizer.ggml.bos_token_id", kU32, u32_payload(1));
  g.set("tokenizer.ggml.eos_token_id", kU32, u32_payload(2));
  g.set("tokenizer.ggml.padding_token_id", kU32, u32_payload(0xFFFFFFFFu));  // "none"
  g.set("llama.block_count", kU32, u32_payload(1));
  g.set("llama.embedding_length", kU32, u32_payload(32));
  g.set("llama.attention.layer_norm_rms_epsilon", kF32, Bytes().f32(1e-5f).bytes());
  g.set("test.nested", kArr, nested_array(3));
  g.set("test.flag", kBool, Bytes().u8(1).bytes());
  g.tensors = {
      {"token_embd.weight", {32, kVocab}, kTF32, 0},
      {"blk.0.attn_q.weight", {32, 2}, kTQ8_0, 0},
      {"output_norm.weight", {32}, kTF16, 0},
  };
  g.place_tensors();
  return g;
}

std::vector<uint8_t> small_valid_gguf() { return small_valid_raw().encode(); }

std::vector<CorruptCase> make_corrupt_cases() {
  std::vector<CorruptCase> cases;
  const RawGguf base = small_valid_raw();
  RawSections sec;
  const std::vector<uint8_t> valid = base.encode(&sec);

  // A variant of the valid file changed by `edit`.
  auto variant = [&](std::string name, std::vector<std::string> expect, const std::function<void(RawGguf&)>& edit) {
    RawGguf g = base;
    edit(g);
    cases.push_back({std::move(name), g.encode(), std::move(expect)});
  };
  // The reader first checks that the counts in the header can fit in the file (each kv pair takes
  // at least 14 bytes, each tensor info 33), so a file cut early fails that check instead.
  const uint64_t min_header = 24 + base.kvs.size() * 14 + base.tensors.size() * 33;
  auto truncated = [&](std::string name, uint64_t size, std::vector<std::string> expect) {
    if (size >= 24 && size < min_header) expect = {"cannot fit"};
    cases.push_back({std::move(name), std::vector<uint8_t>(valid.begin(), valid.begin() + size), std::move(expect)});
  };
  auto bad_kv = [&](std::string name, std::vector<std::string> expect, const std::string& key, uint32_t type,
                    std::vector<uint8_t> payload) {
    variant(std::move(name), std::move(expect), [&](RawGguf& g) { g.set(key, type, payload); });
  };
  auto bad_tensor = [&](std::string name, std::vector<std::string> expect, const std::function<void(RawTensor&)>& edit) {
    variant(std::move(name), std::move(expect), [&](RawGguf& g) { edit(g.tensors[1]); });
  };

  // --- Header.
  cases.push_back({"empty_file", {}, {"only 0 bytes"}});
  variant("bad_magic", {"magic", "47 47 55 58"}, [](RawGguf& g) { g.magic = {'G', 'G', 'U', 'X'}; });
  variant("version_0", {"version 0"}, [](RawGguf& g) { g.version = 0; });
  variant("version_1", {"version 1", "not supported"}, [](RawGguf& g) { g.version = 1; });
  variant("version_4", {"version 4"}, [](RawGguf& g) { g.version = 4; });
  variant("version_max", {"version 4294967295"}, [](RawGguf& g) { g.version = 0xFFFFFFFFu; });
  variant("version_big_endian", {"big-endian"}, [](RawGguf& g) { g.version = 0x03000000u; });
  variant("huge_tensor_count", {"tensor count 4611686018427387904"}, [](RawGguf& g) { g.tensor_count = 1ull << 62; });
  variant("huge_kv_count", {"metadata count 18446744073709551615"}, [](RawGguf& g) { g.kv_count = ~0ull; });
  variant("kv_count_past_file", {"cannot fit"}, [](RawGguf& g) { g.kv_count = 60000; });
  variant("tensor_count_past_file", {"cannot fit"}, [](RawGguf& g) { g.tensor_count = 60000; });
  variant("tensor_count_one_too_many", {"tensor #3"}, [](RawGguf& g) { g.tensor_count = 4; g.data_bytes = 0; });

  // --- Truncation inside every section.
  truncated("truncated_magic", 3, {"only 3 bytes"});
  truncated("truncated_version", 6, {"version"});
  truncated("truncated_counts", 14, {"tensor count"});
  truncated("truncated_kv_count", 20, {"metadata count"});
  truncated("truncated_first_key_length", sec.kv_starts[0] + 4, {"metadata key #0"});
  truncated("truncated_first_key", sec.kv_starts[0] + 12, {"metadata key #0"});
  truncated("truncated_token_array", sec.kv_starts[2] + 60, {"tokenizer.ggml.tokens"});
  truncated("truncated_last_kv", sec.tensor_info_starts[0] - 1, {"test.flag"});
  truncated("truncated_tensor_name", sec.tensor_info_starts[0] + 10, {"tensor #0 name"});
  truncated("truncated_tensor_dims", sec.tensor_info_starts[1] + 8 + 19 + 4 + 3, {"tensor 'blk.0.attn_q.weight'"});
  truncated("truncated_tensor_offset", sec.header_end - 2, {"tensor 'output_norm.weight' offset"});
  if (sec.data_start > sec.header_end) truncated("truncated_padding", sec.data_start - 1, {"data section"});
  truncated("truncated_data", valid.size() - 1, {"output_norm.weight", "past the end"});
  truncated("truncated_first_tensor_data", sec.data_start + 100, {"token_embd.weight", "past the end"});

  // --- Metadata encoding.
  auto verbatim_kv = [&](std::string name, std::vector<std::string> expect, std::vector<uint8_t> bytes) {
    variant(std::move(name), std::move(expect), [&](RawGguf& g) { g.kvs[1].verbatim = bytes; });
  };
  verbatim_kv("huge_key_length", {"metadata key #1", "string length 1152921504606846976", "limit"},
              Bytes().u64(1ull << 60).raw("abc", 3).bytes());
  verbatim_kv("key_length_past_end", {"metadata key #1", "runs past the end"}, Bytes().u64(1u << 20).raw("abc", 3).bytes());
  verbatim_kv("empty_key", {"metadata key #1 is empty"}, Bytes().str("").u32(kU8).u8(0).bytes());
  bad_kv("huge_string_value", {"general.name", "string length"}, "general.name", kStr,
         Bytes().u64(~0ull).raw("x", 1).bytes());
  bad_kv("huge_array_count", {"test.nested", "array length 1152921504606846976"}, "test.nested", kArr,
         Bytes().u32(kU8).u64(1ull << 60).bytes());
  bad_kv("array_count_past_end", {"test.nested", "cannot fit"}, "test.nested", kArr,
         Bytes().u32(kU64).u64(1u << 20).u64(1).bytes());
  bad_kv("string_array_count_past_end", {"test.nested", "cannot fit"}, "test.nested", kArr,
         Bytes().u32(kStr).u64(1u << 22).str("a").bytes());
  bad_kv("nested_array_too_deep", {"test.nested", "nested deeper"}, "test.nested", kArr, nested_array(5));
  bad_kv("unknown_value_type", {"test.flag", "unknown value type 13"}, "test.flag", 13, Bytes().u8(1).bytes());
  bad_kv("unknown_value_type_huge", {"unknown value type 4294967295"}, "test.flag", 0xFFFFFFFFu, {});
  bad_kv("unknown_array_element_type", {"test.nested", "unknown value type 99"}, "test.nested", kArr,
         Bytes().u32(99).u64(1).u8(0).bytes());
  bad_kv("bool_not_0_or_1", {"test.flag", "bool"}, "test.flag", kBool, Bytes().u8(2).bytes());
  variant("duplicate_key", {"duplicate metadata key 'general.name'"}, [](RawGguf& g) {
    g.kvs.push_back(RawKv{"general.name", kStr, str_payload("again"), std::nullopt});
  });

  // --- Known keys with wrong types or values.
  bad_kv("alignment_as_string", {"general.alignment", "expected uint32"}, "general.alignment", kStr, str_payload("32"));
  bad_kv("alignment_as_u64", {"general.alignment", "uint64"}, "general.alignment", kU64, Bytes().u64(32).bytes());
  bad_kv("alignment_0", {"general.alignment", "is 0", "power of two"}, "general.alignment", kU32, u32_payload(0));
  bad_kv("alignment_3", {"general.alignment", "is 3"}, "general.alignment", kU32, u32_payload(3));
  bad_kv("alignment_2pow31", {"general.alignment", "is 2147483648"}, "general.alignment", kU32, u32_payload(1u << 31));
  bad_kv("alignment_2pow17", {"general.alignment", "is 131072"}, "general.alignment", kU32, u32_payload(1u << 17));
  bad_kv("architecture_as_int", {"general.architecture", "expected string"}, "general.architecture", kU32, u32_payload(1));
  bad_kv("block_count_as_string", {"llama.block_count", "expected an integer"}, "llama.block_count", kStr, str_payload("1"));
  bad_kv("head_count_as_float", {"llama.attention.head_count", "float32"}, "llama.attention.head_count", kF32,
         Bytes().f32(8).bytes());
  bad_kv("context_length_negative", {"llama.context_length", "-1"}, "llama.context_length", kI32, Bytes().i32(-1).bytes());
  bad_kv("tokens_as_int_array", {"tokenizer.ggml.tokens", "array of int32", "expected array of string"},
         "tokenizer.ggml.tokens", kArr, i32_array(kVocab));
  bad_kv("tokens_as_string", {"tokenizer.ggml.tokens", "has type string"}, "tokenizer.ggml.tokens", kStr, str_payload("a"));
  bad_kv("scores_length_mismatch", {"tokenizer.ggml.scores", "has 7 entries", "has 8"}, "tokenizer.ggml.scores", kArr,
         f32_array(kVocab - 1));
  bad_kv("scores_as_float64", {"tokenizer.ggml.scores", "array of float64"}, "tokenizer.ggml.scores", kArr,
         Bytes().u32(kF64).u64(0).bytes());
  bad_kv("token_type_length_mismatch", {"tokenizer.ggml.token_type", "has 9 entries"}, "tokenizer.ggml.token_type", kArr,
         i32_array(kVocab + 1));
  bad_kv("merges_as_int_array", {"tokenizer.ggml.merges", "expected array of string"}, "tokenizer.ggml.merges", kArr,
         i32_array(2));
  bad_kv("bos_outside_vocab", {"tokenizer.ggml.bos_token_id", "is 8", "outside the vocabulary of 8"},
         "tokenizer.ggml.bos_token_id", kU32, u32_payload(kVocab));
  bad_kv("eos_outside_vocab_u64", {"tokenizer.ggml.eos_token_id", "outside the vocabulary"},
         "tokenizer.ggml.eos_token_id", kU64, Bytes().u64(1ull << 40).bytes());
  bad_kv("eot_as_string", {"tokenizer.ggml.eot_token_id", "expected an integer"}, "tokenizer.ggml.eot_token_id", kStr,
         str_payload("2"));
  bad_kv("unknown_token_negative", {"tokenizer.ggml.unknown_token_id", "negative"}, "tokenizer.ggml.unknown_token_id",
         kI32, Bytes().i32(-7).bytes());

  // --- Tensor table.
  bad_tensor("tensor_empty_name", {"tensor #1 has an empty name"}, [](RawTensor& t) { t.name = ""; });
  variant("duplicate_tensor_name", {"duplicate tensor name 'token_embd.weight'"},
          [](RawGguf& g) { g.tensors[2].name = "token_embd.weight"; });
  bad_tensor("tensor_zero_dims", {"blk.0.attn_q.weight", "0 dimensions"}, [](RawTensor& t) { t.dims = {}; });
  bad_tensor("tensor_too_many_dims", {"blk.0.attn_q.weight", "5 dimensions"}, [](RawTensor& t) { t.dims = {32, 1, 1, 1, 1}; });
  {  // n_dims field of 0xFFFFFFFF: patch the encoded bytes.
    std::vector<uint8_t> b = valid;
    const uint64_t n_dims_at = sec.tensor_info_starts[1] + 8 + std::string("blk.0.attn_q.weight").size();
    std::memset(b.data() + n_dims_at, 0xFF, 4);
    cases.push_back({"tensor_huge_n_dims", std::move(b), {"blk.0.attn_q.weight", "4294967295 dimensions"}});
  }
  bad_tensor("tensor_zero_dim", {"blk.0.attn_q.weight", "dimension 1 is 0"}, [](RawTensor& t) { t.dims = {32, 0}; });
  bad_tensor("tensor_dims_wrap", {"blk.0.attn_q.weight", "overflows"},
             [](RawTensor& t) { t.type = kTF32; t.dims = {1ull << 32, 1ull << 32, 16}; });
  bad_tensor("tensor_bytes_wrap", {"blk.0.attn_q.weight", "overflows"},
             [](RawTensor& t) { t.type = kTF32; t.dims = {1ull << 62}; });
  bad_tensor("tensor_huge_but_no_wrap", {"blk.0.attn_q.weight", "past the end"},
             [](RawTensor& t) { t.type = kTF32; t.dims = {1ull << 20, 1ull << 20}; });
  bad_tensor("tensor_type_q5_0", {"blk.0.attn_q.weight", "q5_0", "does not support", "q6_K"},
             [](RawTensor& t) { t.type = kTQ5_0; });
  bad_tensor("tensor_type_unknown", {"blk.0.attn_q.weight", "id 1000"}, [](RawTensor& t) { t.type = 1000; });
  bad_tensor("tensor_type_q8_K", {"blk.0.attn_q.weight", "q8_K", "activations only"},
             [](RawTensor& t) { t.type = kTQ8_K; t.dims = {256, 1}; });
  bad_tensor("tensor_partial_block", {"blk.0.attn_q.weight", "not a whole number", "q4_K"},
             [](RawTensor& t) { t.type = kTQ4_K; t.dims = {32, 2}; });
  bad_tensor("tensor_offset_past_end", {"blk.0.attn_q.weight", "past the end"}, [](RawTensor& t) { t.offset += 1 << 20; });
  bad_tensor("tensor_offset_wraps", {"blk.0.attn_q.weight", "past the end"}, [](RawTensor& t) { t.offset = ~0ull - 31; });
  bad_tensor("tensor_offset_unaligned", {"blk.0.attn_q.weight", "not a multiple of the alignment 32"},
             [](RawTensor& t) { t.offset += 4; });
  bad_tensor("tensor_overlap", {"overlap", "token_embd.weight", "blk.0.attn_q.weight"}, [](RawTensor& t) { t.offset = 32; });
  variant("tensor_same_offset", {"overlap"}, [](RawGguf& g) { g.tensors[2].offset = g.tensors[1].offset; });
  variant("alignment_64_offsets_unaligned", {"not a multiple of the alignment 64"}, [](RawGguf& g) {
    g.set("general.alignment", kU32, u32_payload(64));
    g.tensors[0].dims = {16, 1};  // 64 bytes
    g.tensors[1].offset = 96;     // 32-aligned, not 64-aligned
    g.tensors[2].offset = 256;
    g.data_bytes = 512;
    g.pad_alignment = 64;
  });
  return cases;
}

}  // namespace hearth::gguf::testing
