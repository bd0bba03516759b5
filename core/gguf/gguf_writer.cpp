// GGUF v3 writer. The header (metadata in insertion order, then tensor infos) is written first;
// tensor data is then produced one tensor at a time by its fill callback into a reused buffer,
// so peak memory is one tensor, not the model. Files are written to "<path>.tmp" and renamed
// into place, so a crash never leaves a half-written model under the real name.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

#include <fmt/format.h>

#include "core/common/checked_math.h"
#include "core/common/error.h"
#include "core/gguf/gguf_file.h"
#include "core/gguf/gguf_file_impl.h"

namespace hearth::gguf {
namespace {

using Sink = std::function<void(const void* data, size_t size)>;

class Encoder {
 public:
  explicit Encoder(const Sink& sink) : sink_(sink) {}

  uint64_t written() const { return written_; }

  void bytes(const void* data, size_t size) {
    if (size == 0) return;
    sink_(data, size);
    written_ += size;
  }
  template <typename T>
  void scalar(T v) { bytes(&v, sizeof v); }
  void string(const std::string& s) {
    scalar<uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  void padding_to(uint64_t alignment) {
    static constexpr uint8_t kZeros[256] = {};
    uint64_t target = 0;
    if (!checked_align_up(written_, alignment, target)) throw Error("GGUF writer: file offset overflows");
    for (uint64_t left = target - written_; left > 0;) {
      const size_t n = left < sizeof kZeros ? static_cast<size_t>(left) : sizeof kZeros;
      bytes(kZeros, n);
      left -= n;
    }
  }

  void value(const Value& v, std::string_view key) {
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::string>) {
            string(x);
          } else if constexpr (std::is_same_v<T, Array>) {
            scalar<uint32_t>(static_cast<uint32_t>(x.element_type));
            scalar<uint64_t>(x.items.size());
            for (const Value& item : x.items) {
              if (item.type() != x.element_type) {
                throw Error(fmt::format("GGUF writer: metadata key '{}': array of {} holds a {} item", key,
                                        value_type_name(x.element_type), value_type_name(item.type())));
              }
              value(item, key);
            }
          } else if constexpr (std::is_same_v<T, bool>) {
            scalar<uint8_t>(x ? 1 : 0);
          } else {
            scalar<T>(x);
          }
        },
        v.data);
  }

 private:
  const Sink& sink_;
  uint64_t written_ = 0;
};

}  // namespace

GgufWriter::GgufWriter(uint64_t alignment) : alignment_(alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > kMaxAlignment) {
    throw Error(fmt::format("GGUF writer: alignment {} is not a power of two from 1 to {}", alignment,
                            kMaxAlignment));
  }
}

void GgufWriter::set(std::string key, Value value) {
  if (key.empty()) throw Error("GGUF writer: empty metadata key");
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(std::move(key), std::move(value));
}

void GgufWriter::add_tensor(std::string name, DType type, std::vector<uint64_t> dims,
                            std::function<void(uint8_t* dst)> fill) {
  const auto fail = [&](std::string_view why) {
    throw Error(fmt::format("GGUF writer: tensor '{}': {}", name, why));
  };
  if (name.empty()) throw Error("GGUF writer: empty tensor name");
  for (const auto& t : tensors_) {
    if (t.name == name) fail("duplicate tensor name");
  }
  if (type == DType::Q8_K) fail("q8_K is for activations only and cannot be stored");
  if (dims.empty() || dims.size() > Limits{}.max_dims) fail(fmt::format("{} dimensions", dims.size()));
  uint64_t n_elements = 1;
  for (uint64_t d : dims) {
    if (d == 0) fail("a dimension is 0");
    if (!checked_mul(n_elements, d, n_elements)) fail("element count overflows");
  }
  const DTypeTraits tr = traits(type);
  if (dims[0] % tr.block_elements != 0) {
    fail(fmt::format("row length {} is not a whole number of {} blocks", dims[0], tr.name));
  }
  uint64_t n_bytes = 0;
  if (!checked_mul(n_elements / tr.block_elements, uint64_t{tr.block_bytes}, n_bytes)) fail("byte size overflows");
  if (!fill) fail("no fill callback");
  tensors_.push_back(PendingTensor{std::move(name), type, std::move(dims), n_bytes, std::move(fill)});
}

void GgufWriter::add_tensor(std::string name, DType type, std::vector<uint64_t> dims,
                            std::span<const uint8_t> bytes) {
  // The span is copied from at write time: the caller keeps `bytes` alive until then.
  add_tensor(std::move(name), type, std::move(dims), [bytes](uint8_t* dst) {
    std::memcpy(dst, bytes.data(), bytes.size());
  });
  if (tensors_.back().n_bytes != bytes.size()) {
    const std::string name_copy = tensors_.back().name;
    const uint64_t expected = tensors_.back().n_bytes;
    tensors_.pop_back();
    throw Error(fmt::format("GGUF writer: tensor '{}': {} bytes given, its type and shape need {}", name_copy,
                            bytes.size(), expected));
  }
}

namespace {

// Writes the whole file through `sink`. Shared by write() and write_to_bytes().
void encode_file(const std::vector<std::pair<std::string, Value>>& metadata, uint64_t alignment,
                 const auto& tensors, const Sink& sink) {
  const Value* explicit_alignment = nullptr;
  for (const auto& [k, v] : metadata) {
    if (k == "general.alignment") explicit_alignment = &v;
  }
  if (explicit_alignment != nullptr) {
    const auto* a = std::get_if<uint32_t>(&explicit_alignment->data);
    if (a == nullptr || *a != alignment) {
      throw Error(fmt::format("GGUF writer: metadata key 'general.alignment' must be uint32 {} (the writer's "
                              "alignment); leave it out and the writer adds it", alignment));
    }
  }
  const bool add_alignment_key = explicit_alignment == nullptr && alignment != kDefaultAlignment;

  Encoder out(sink);
  out.bytes("GGUF", 4);
  out.scalar<uint32_t>(3);
  out.scalar<uint64_t>(tensors.size());
  out.scalar<uint64_t>(metadata.size() + (add_alignment_key ? 1 : 0));
  for (const auto& [key, value] : metadata) {
    out.string(key);
    out.scalar<uint32_t>(static_cast<uint32_t>(value.type()));
    out.value(value, key);
  }
  if (add_alignment_key) {
    out.string("general.alignment");
    out.scalar<uint32_t>(static_cast<uint32_t>(ValueType::kUint32));
    out.scalar<uint32_t>(static_cast<uint32_t>(alignment));
  }

  uint64_t offset = 0;  // within the data section; each tensor padded to the alignment
  for (const auto& t : tensors) {
    out.string(t.name);
    out.scalar<uint32_t>(static_cast<uint32_t>(t.dims.size()));
    for (uint64_t d : t.dims) out.scalar<uint64_t>(d);
    out.scalar<uint32_t>(static_cast<uint32_t>(t.type));
    out.scalar<uint64_t>(offset);
    if (!checked_add(offset, t.n_bytes, offset) || !checked_align_up(offset, alignment, offset)) {
      throw Error("GGUF writer: data section size overflows");
    }
  }
  out.padding_to(alignment);

  std::vector<uint8_t> buffer;  // one tensor at a time
  for (const auto& t : tensors) {
    // Release before growing, so the peak is the largest tensor, not the sum of two.
    if (buffer.capacity() < t.n_bytes) std::vector<uint8_t>().swap(buffer);
    buffer.assign(static_cast<size_t>(t.n_bytes), 0);
    t.fill(buffer.data());
    out.bytes(buffer.data(), buffer.size());
    out.padding_to(alignment);
  }
}

}  // namespace

void GgufWriter::write(const std::filesystem::path& path) const {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  std::FILE* file = std::fopen(tmp.string().c_str(), "wb");
  if (file == nullptr) {
    throw Error(fmt::format("{}: cannot create: {}", tmp.string(), std::strerror(errno)));
  }
  const Sink sink = [&](const void* data, size_t size) {
    if (std::fwrite(data, 1, size, file) != size) {
      throw Error(fmt::format("{}: write failed: {}", tmp.string(), std::strerror(errno)));
    }
  };
  try {
    encode_file(metadata_, alignment_, tensors_, sink);
  } catch (...) {
    std::fclose(file);
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw;
  }
  if (std::fclose(file) != 0) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw Error(fmt::format("{}: write failed on close: {}", tmp.string(), std::strerror(errno)));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw Error(fmt::format("{}: cannot rename into place: {}", path.string(), ec.message()));
  }
}

std::vector<uint8_t> GgufWriter::write_to_bytes() const {
  std::vector<uint8_t> bytes;
  const Sink sink = [&](const void* data, size_t size) {
    const auto* p = static_cast<const uint8_t*>(data);
    bytes.insert(bytes.end(), p, p + size);
  };
  encode_file(metadata_, alignment_, tensors_, sink);
  return bytes;
}

}  // namespace hearth::gguf
