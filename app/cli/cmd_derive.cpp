// hearth-cli derive: a model made from another GGUF, for speculative-decoding draft pairs (issue 6).
//   --layers N               keep the first N blocks (and the embeddings, final norm, output head):
//                            an early-exit draft of the input model, its tensors byte for byte;
//   --damp-from L --damp F   multiply the RMSNorm weights of blocks L.. by F (attn_norm scales
//                            that block's attention update by about F, ffn_norm its MLP update by
//                            about F^2): a target whose late blocks refine the residual stream
//                            instead of redrawing it, as in trained models. Random-weight models
//                            have no such structure (every block moves the stream as much as all
//                            before it), so no cheap draft agrees with them; with it, the first-L-
//                            blocks draft agrees often and speculation can be measured honestly.
// Every other tensor and all metadata are copied as they are (block_count follows --layers).
#include <CLI/CLI.hpp>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/cli/commands.h"
#include "core/common/error.h"
#include "core/gguf/gguf_file.h"

namespace hearth::cli {

namespace {

struct DeriveOptions {
  std::string in, out;
  int64_t layers = 0;       // 0: all
  int64_t damp_from = -1;   // -1: no damping
  double damp = 1.0;
};

// The block index of "blk.<i>.<rest>", nullopt for tensors outside the blocks.
std::optional<int64_t> block_of(std::string_view name) {
  constexpr std::string_view kPrefix = "blk.";
  if (name.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  const char* first = name.data() + kPrefix.size();
  const char* last = name.data() + name.size();
  int64_t i = -1;
  const auto [end, ec] = std::from_chars(first, last, i);
  if (ec != std::errc() || end == first || end == last || *end != '.' || i < 0) return std::nullopt;
  return i;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

int run_derive(const DeriveOptions& o) {
  const gguf::GgufFile in = gguf::GgufFile::open(o.in);
  const std::optional<std::string> arch = in.get_string("general.architecture");
  if (!arch) throw Error(o.in + ": no general.architecture");
  const std::string block_key = *arch + ".block_count";
  const std::optional<uint64_t> n_layer = in.get_uint(block_key);
  if (!n_layer || *n_layer == 0) throw Error(o.in + ": no " + block_key);
  const auto n = static_cast<int64_t>(*n_layer);
  if (o.layers < 0 || o.layers > n) {
    throw Error("--layers " + std::to_string(o.layers) + ": the model has " + std::to_string(n) + " blocks");
  }
  const int64_t keep = o.layers > 0 ? o.layers : n;
  if (o.damp_from >= 0 && !(o.damp > 0 && o.damp <= 1)) throw Error("--damp must be in (0, 1]");

  gguf::GgufWriter w(in.alignment());
  for (const auto& [key, value] : in.metadata()) {
    w.set(key, key == block_key ? gguf::Value(static_cast<uint32_t>(keep)) : value);
  }
  std::deque<std::vector<uint8_t>> scaled;  // the damped norms' bytes, alive until write()
  int64_t damped = 0, kept = 0;
  for (const gguf::TensorInfo& t : in.tensors()) {
    const std::optional<int64_t> block = block_of(t.name);
    if (block && *block >= keep) continue;
    ++kept;
    const std::span<const uint8_t> bytes = in.tensor_data(t);
    const bool norm = ends_with(t.name, ".attn_norm.weight") || ends_with(t.name, ".ffn_norm.weight");
    if (block && o.damp_from >= 0 && *block >= o.damp_from && norm) {
      if (t.type != DType::F32) throw Error(t.name + ": a norm that is not F32 cannot be damped");
      std::vector<float> v(bytes.size() / sizeof(float));
      std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
      for (float& x : v) x = static_cast<float>(x * o.damp);
      auto& b = scaled.emplace_back(bytes.size());
      std::memcpy(b.data(), v.data(), b.size());
      w.add_tensor(t.name, t.type, t.dims, std::span<const uint8_t>(b));
      ++damped;
      continue;
    }
    w.add_tensor(t.name, t.type, t.dims, bytes);
  }
  w.write(o.out);
  std::fprintf(stderr, "wrote %s: %lld of %lld blocks, %lld tensors, %lld norms damped by %g\n", o.out.c_str(),
               static_cast<long long>(keep), static_cast<long long>(n), static_cast<long long>(kept),
               static_cast<long long>(damped), o.damp);
  return 0;
}

}  // namespace

CommandFn add_derive_command(CLI::App& app) {
  auto o = std::make_shared<DeriveOptions>();
  auto* cmd = app.add_subcommand("derive", "Write a model derived from another GGUF (speculative-decoding draft pairs)");
  cmd->add_option("input", o->in, "input .gguf")->required();
  cmd->add_option("-o,--out", o->out, "output .gguf file")->required();
  cmd->add_option("--layers", o->layers, "keep only the first N blocks (an early-exit draft of the input)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  cmd->add_option("--damp-from", o->damp_from, "damp the blocks from this one on (see --damp)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  cmd->add_option("--damp", o->damp, "factor on the RMSNorm weights of the damped blocks, in (0, 1]")
      ->capture_default_str();
  return [o] { return run_derive(*o); };
}

}  // namespace hearth::cli
