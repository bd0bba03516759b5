// Writes fuzz seeds into a directory: the small valid file and every corrupt variant from
// tests/core/gguf/corrupt_gguf.cpp, plus writer output with every value and tensor type.
// Usage: make_gguf_corpus <dir> [--valid-only]
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/gguf/gguf_file.h"
#include "tests/core/gguf/corrupt_gguf.h"

using namespace hearth;
using namespace hearth::gguf;

namespace {

void save(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

// Every value type (nested arrays, string arrays, empty arrays) and one tensor of each type.
std::vector<uint8_t> every_type_file(uint64_t alignment) {
  GgufWriter w(alignment);
  w.set("general.architecture", "llama");
  w.set("u8", uint8_t{1});
  w.set("i8", int8_t{-1});
  w.set("u16", uint16_t{2});
  w.set("i16", int16_t{-2});
  w.set("u32", uint32_t{3});
  w.set("i32", int32_t{-3});
  w.set("f32", 1.5f);
  w.set("bool", true);
  w.set("string", "text");
  w.set("u64", uint64_t{4});
  w.set("i64", int64_t{-4});
  w.set("f64", 2.5);
  w.set("tokenizer.ggml.tokens", Array{ValueType::kString, {"a", "b", "c"}});
  w.set("tokenizer.ggml.scores", Array{ValueType::kFloat32, {0.f, -1.f, -2.f}});
  w.set("tokenizer.ggml.token_type", Array{ValueType::kInt32, {int32_t{1}, int32_t{1}, int32_t{3}}});
  w.set("tokenizer.ggml.bos_token_id", uint32_t{1});
  w.set("nested", Array{ValueType::kArray, {Array{ValueType::kUint16, {uint16_t{7}}}, Array{ValueType::kString, {}}}});
  const DType types[] = {DType::F32, DType::F16, DType::BF16, DType::Q8_0,
                         DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};
  for (DType t : types) {
    const uint64_t row = traits(t).block_elements;
    w.add_tensor("t." + std::string(dtype_name(t)), t, {row, 1}, [row, t](uint8_t* dst) {
      std::memset(dst, 0x3c, *row_bytes(t, row));
    });
  }
  return w.write_to_bytes();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <dir> [--valid-only]\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const bool valid_only = argc > 2 && std::strcmp(argv[2], "--valid-only") == 0;
  std::filesystem::create_directories(dir);
  save(dir / "valid_small.gguf", testing::small_valid_gguf());
  save(dir / "valid_every_type_align32.gguf", every_type_file(32));
  save(dir / "valid_every_type_align64.gguf", every_type_file(64));
  int n = 3;
  if (!valid_only) {
    for (const auto& c : testing::make_corrupt_cases()) {
      save(dir / ("corrupt_" + c.name + ".gguf"), c.bytes);
      ++n;
    }
  }
  std::printf("wrote %d seeds to %s\n", n, dir.string().c_str());
  return 0;
}
