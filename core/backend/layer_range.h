#pragma once
// Partial offload: the contiguous range of a model's layers that one backend computes when the
// model is split between devices (layer_split_backend.h: the first layers on the GPU, the rest on
// the CPU). The default is the whole model. A backend built for [begin, end):
//   - holds only the weights of those layers (plus the token embedding when begin == 0 and the
//     output norm and head when end == n_layer),
//   - holds KV blocks of those layers only (kv_geometry().n_layer == end - begin),
//   - runs its part of a pass through Backend::forward_stage.
#include <cstdint>
#include <string>

namespace hearth {

struct LayerRange {
  int64_t begin = 0;
  int64_t end = -1;  // one past the last layer computed; -1: the model's n_layer

  int64_t resolved_end(int64_t n_layer) const { return end < 0 ? n_layer : end; }
  int64_t count(int64_t n_layer) const { return resolved_end(n_layer) - begin; }
  bool last(int64_t n_layer) const { return resolved_end(n_layer) == n_layer; }  // computes logits
  bool whole(int64_t n_layer) const { return begin == 0 && last(n_layer); }
  // Empty when the range is valid for a model of n_layer layers (non-empty, inside the model),
  // else why not, for an error message.
  std::string check(int64_t n_layer) const {
    const int64_t e = resolved_end(n_layer);
    if (begin < 0 || begin >= n_layer || e <= begin || e > n_layer) {
      return "layer range " + std::to_string(begin) + " .. " + std::to_string(e) + " is not inside the model's " +
             std::to_string(n_layer) + " layers";
    }
    return {};
  }
};

}  // namespace hearth
