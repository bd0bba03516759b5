#pragma once
// The draft model of speculative decoding: a second, smaller GGUF with the target's vocabulary,
// on a backend of its own with its own paged KV (its own KvCache over its own block pool).
// Each stream has a draft block table whose first `computed` positions hold the draft's K/V of
// the stream's verified tokens; propose() catches it up (chunked prefill of what is missing),
// then runs k - 1 batched single-token steps to draw k draft tokens per stream; after
// verification rollback() keeps only the draft K/V of tokens that are still the stream's.
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <vector>

#include "core/backend/backend.h"
#include "core/kv/kv_cache.h"
#include "core/model/loaded_model.h"
#include "core/sampling/sampler.h"

namespace hearth {

// One stream's draft state (lives in the engine's Sequence).
struct DraftSlot {
  BlockTable table;
  int64_t computed = 0;                 // positions of the stream's tokens with draft K/V
  std::unique_ptr<Sampler> sampler;     // q: the request's chain without penalties (stateless)
};

// One stream's share of a propose() call.
struct DraftJob {
  DraftSlot* slot = nullptr;
  std::span<const TokenId> tokens;      // the stream's verified tokens
  int32_t k = 0;                        // tokens to draft; 0: only catch up (prefill) the draft's KV
  std::mt19937_64* rng = nullptr;       // draws from q
  // Out: the drafted tokens and their q rows ([n_vocab] each; empty row: q is a point mass).
  std::vector<TokenId> drafts;
  std::vector<std::vector<float>> q;
};

class DraftModel {
 public:
  // Takes the loaded draft and its backend. Throws hearth::Error when its vocabulary differs from
  // the target's (size, or the text of any token id), naming the first difference.
  DraftModel(std::shared_ptr<const LoadedModel> draft, std::unique_ptr<Backend> backend, const LoadedModel& target,
             int64_t target_n_vocab, int64_t token_budget);

  // Drafts every job's tokens (jobs whose KV cannot be reserved get no drafts and lose their
  // draft KV). Throws hearth::Error when the draft's forward pass fails.
  void propose(std::vector<DraftJob>& jobs);
  // The first `valid` tokens of the stream are unchanged: draft K/V beyond them is dropped.
  void rollback(DraftSlot& slot, int64_t valid);
  void release(DraftSlot& slot);

  const Backend& backend() const { return *backend_; }
  const KvCache& kv() const { return *kv_; }
  const std::string& path() const { return path_; }

 private:
  std::shared_ptr<const LoadedModel> model_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<KvCache> kv_;
  std::string path_;
  int64_t token_budget_;
  std::vector<float> logits_;
};

// Vocabulary check on its own (tests, CLI): empty when equal, else what differs.
std::string vocabulary_difference(const LoadedModel& draft, int64_t draft_n_vocab, const LoadedModel& target,
                                  int64_t target_n_vocab);

}  // namespace hearth
