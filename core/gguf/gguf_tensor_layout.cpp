// Placement checks of tensor data: the data section starts at the header end rounded up to
// general.alignment; every tensor starts at an aligned offset inside it, ends inside the file,
// and no two tensors share a byte. After this, tensor_data() needs no checks.
#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "core/common/checked_math.h"
#include "core/common/error.h"
#include "core/gguf/gguf_file_impl.h"

namespace hearth::gguf {

void check_tensor_layout(GgufContents& impl, uint64_t header_end) {
  auto fail = [&](std::string_view message) {
    throw FormatError(fmt::format("{}: {}", impl.source, message));
  };

  if (const Value* v = impl.find("general.alignment")) {
    const uint64_t a = std::get<uint32_t>(v->data);  // type checked by check_known_keys
    if (a == 0 || (a & (a - 1)) != 0 || a > kMaxAlignment) {
      fail(fmt::format("metadata key 'general.alignment' is {}; it must be a power of two from 1 to {}", a,
                       kMaxAlignment));
    }
    impl.alignment = a;
  }

  const uint64_t file_size = impl.bytes.size();
  if (!checked_align_up(header_end, impl.alignment, impl.data_offset)) {
    fail("data section offset overflows");
  }
  if (impl.tensors.empty()) return;
  if (impl.data_offset > file_size) {
    fail(fmt::format("data section starts at byte {}, past the end of the file ({} bytes)", impl.data_offset,
                     file_size));
  }

  for (const TensorInfo& t : impl.tensors) {
    if (t.offset % impl.alignment != 0) {
      fail(fmt::format("tensor '{}': data offset {} is not a multiple of the alignment {}", t.name, t.offset,
                       impl.alignment));
    }
    uint64_t start = 0, end = 0;
    if (!checked_add(impl.data_offset, t.offset, start) || !checked_add(start, t.n_bytes, end) ||
        end > file_size) {
      fail(fmt::format("tensor '{}': data at offset {} ({} bytes, from byte {} of the file) ends past the end "
                       "of the file ({} bytes)", t.name, t.offset, t.n_bytes, impl.data_offset, file_size));
    }
  }

  // Sorted by offset, each tensor must end at or before the next one starts.
  std::vector<size_t> order(impl.tensors.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return impl.tensors[a].offset < impl.tensors[b].offset; });
  for (size_t i = 1; i < order.size(); ++i) {
    const TensorInfo& prev = impl.tensors[order[i - 1]];
    const TensorInfo& next = impl.tensors[order[i]];
    if (prev.offset + prev.n_bytes > next.offset) {  // no overflow: both end inside the file
      fail(fmt::format("tensors '{}' (data offsets {} to {}) and '{}' (from offset {}) overlap", prev.name,
                       prev.offset, prev.offset + prev.n_bytes, next.name, next.offset));
    }
  }
}

}  // namespace hearth::gguf
