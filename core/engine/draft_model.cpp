#include "core/engine/draft_model.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/common/error.h"
#include "core/engine/speculation.h"

namespace hearth {

std::string vocabulary_difference(const LoadedModel& draft, int64_t draft_n_vocab, const LoadedModel& target,
                                  int64_t target_n_vocab) {
  if (draft_n_vocab != target_n_vocab) {
    return fmt::format("the draft model has {} logits per token, the target {}", draft_n_vocab, target_n_vocab);
  }
  const Tokenizer& a = draft.tokenizer();
  const Tokenizer& b = target.tokenizer();
  if (a.vocab_size() != b.vocab_size()) {
    return fmt::format("the draft's vocabulary has {} tokens, the target's {}", a.vocab_size(), b.vocab_size());
  }
  for (int32_t id = 0; id < a.vocab_size(); ++id) {
    const std::string x = a.token_to_piece(id, true), y = b.token_to_piece(id, true);
    if (x != y) return fmt::format("token {} is '{}' in the draft and '{}' in the target", id, x, y);
  }
  return {};
}

DraftModel::DraftModel(std::shared_ptr<const LoadedModel> draft, std::unique_ptr<Backend> backend, const LoadedModel& target,
                       int64_t target_n_vocab, int64_t token_budget)
    : model_(std::move(draft)), backend_(std::move(backend)), path_(model_->path().string()),
      token_budget_(std::max<int64_t>(1, token_budget)) {
  const std::string diff = vocabulary_difference(*model_, backend_->n_vocab(), target, target_n_vocab);
  if (!diff.empty()) throw Error(fmt::format("draft model {} cannot draft for {}: {}", path_, target.path().string(), diff));
  const KvGeometry g = backend_->kv_geometry();
  kv_ = std::make_unique<KvCache>(backend_->kv_block_count(), g.block_tokens, /*hash_seed=*/0);
}

void DraftModel::release(DraftSlot& slot) {
  kv_->release(slot.table);
  slot.computed = 0;
}

void DraftModel::rollback(DraftSlot& slot, int64_t valid) {
  slot.computed = std::min(slot.computed, std::max<int64_t>(0, valid));
  kv_->truncate(slot.table, slot.computed);
}

void DraftModel::propose(std::vector<DraftJob>& jobs) {
  const auto n_vocab = static_cast<size_t>(backend_->n_vocab());
  auto copy = [this](int32_t src, int32_t dst) { backend_->copy_kv_block(src, dst); };
  auto draw = [&](DraftJob& j, std::span<const float> row) {
    Sampler& sampler = *j.slot->sampler;
    if (sampler.params().temperature <= 0) {
      const TokenId best = greedy_argmax(row);  // q is a point mass (the q sampler has no penalties)
      if (best < 0) throw Error("draft model: every logit is NaN or -inf");
      j.drafts.push_back(best);
      j.q.emplace_back();
    } else {
      std::vector<float> q = sampler.probabilities(row);
      j.drafts.push_back(sample_distribution(q, uniform01(*j.rng)));
      j.q.push_back(std::move(q));
    }
  };

  // Reserve each job's positions: its missing verified tokens and k - 1 drafts.
  std::vector<DraftJob*> active;
  for (DraftJob& j : jobs) {
    j.drafts.clear();
    j.q.clear();
    const auto len = static_cast<int64_t>(j.tokens.size());
    if (j.k < 0 || len == 0) continue;
    const int64_t end = len + std::max(j.k, 1) - 1;  // k == 0: catch up only
    if (end > backend_->context_size()) continue;
    DraftSlot& s = *j.slot;
    if (j.k > 0 && s.computed >= len) rollback(s, len - 1);  // the last token's logits are needed
    if (s.computed >= len) continue;
    if (!kv_->prepare_write(s.table, s.computed, end, copy)) {
      release(s);
      if (!kv_->prepare_write(s.table, 0, end, copy)) continue;
    }
    active.push_back(&j);
  }

  // Catch-up: chunked prefill of every job's missing tokens; the last chunk gives the first draft.
  std::vector<SequenceSlice> slices;
  std::vector<DraftJob*> owners;
  std::vector<int64_t> ends;
  while (true) {
    slices.clear();
    owners.clear();
    ends.clear();
    int64_t budget = token_budget_;
    for (DraftJob* j : active) {
      const auto len = static_cast<int64_t>(j->tokens.size());
      const int64_t from = j->slot->computed;
      if (from >= len || budget <= 0) continue;
      const int64_t n = std::min(len - from, budget);
      SequenceSlice x;
      x.tokens = j->tokens.subspan(static_cast<size_t>(from), static_cast<size_t>(n));
      x.n_past = from;
      x.block_table = j->slot->table.blocks;
      x.n_logits = from + n == len && j->k > 0 ? 1 : 0;
      slices.push_back(x);
      owners.push_back(j);
      ends.push_back(from + n);
      budget -= n;
    }
    if (slices.empty()) break;
    backend_->forward_batch(slices, logits_);
    size_t row = 0;
    for (size_t i = 0; i < slices.size(); ++i) {
      owners[i]->slot->computed = ends[i];
      if (slices[i].n_logits == 0) continue;
      draw(*owners[i], std::span<const float>(logits_).subspan(row * n_vocab, n_vocab));
      ++row;
    }
  }

  // k - 1 batched single-token steps: draft i is computed to draw draft i + 1.
  for (int32_t step = 1;; ++step) {
    slices.clear();
    owners.clear();
    for (DraftJob* j : active) {
      if (j->k <= step || static_cast<int64_t>(j->drafts.size()) != step) continue;
      SequenceSlice x;
      x.tokens = std::span<const TokenId>(j->drafts).subspan(static_cast<size_t>(step - 1), 1);
      x.n_past = j->slot->computed;
      x.block_table = j->slot->table.blocks;
      x.n_logits = 1;
      slices.push_back(x);
      owners.push_back(j);
    }
    if (slices.empty()) break;
    backend_->forward_batch(slices, logits_);
    for (size_t i = 0; i < slices.size(); ++i) {
      ++owners[i]->slot->computed;
      draw(*owners[i], std::span<const float>(logits_).subspan(i * n_vocab, n_vocab));
    }
  }
}

}  // namespace hearth
