#pragma once
// The interface the engine computes through. A backend owns the model's weights on its device
// and the key/value cache of one sequence (the paged, multi-sequence cache replaces this with
// block tables when the scheduler lands).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace hearth {

using TokenId = int32_t;

struct ForwardInput {
  std::span<const TokenId> tokens;  // new tokens, at positions n_past .. n_past + size - 1
  bool all_logits = false;          // logits for every token (scoring), else only the last
};

class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu (2 threads, AVX2)" / "NVIDIA H100 80GB HBM3".
  virtual std::string device_name() const = 0;
  virtual int64_t context_size() const = 0;
  virtual int64_t n_vocab() const = 0;
  // Tokens whose keys and values are in the cache.
  virtual int64_t n_past() const = 0;

  // Runs the model over input.tokens, appending their keys/values to the cache.
  // logits: [all_logits ? n_tokens : 1, n_vocab]. Throws hearth::Error when the context is full.
  virtual void forward(const ForwardInput& input, std::vector<float>& logits) = 0;

  // Drops cached positions >= n_past (rollback of rejected or edited tokens).
  virtual void truncate(int64_t n_past) = 0;
};

}  // namespace hearth
