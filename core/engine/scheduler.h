#pragma once
// The one scheduling rule (DESIGN.md): each step, every running sequence's computed tokens catch
// up to its known tokens within a token budget. Order: sequences that decode (one token behind)
// first, then prefill chunks; interactive before background inside each; older before newer.
// Prefill is chunked (prefill_chunk tokens at most per sequence per step), so a long prompt never
// stalls the other streams. A decoding sequence with draft tokens (speculative decoding) gets
// its token and all its drafts in one slice when the budget and the pool allow, else fewer
// drafts (never a preemption for the sake of drafts).
//
// When the pool has no block for a sequence, the lowest-priority sequence (background before
// interactive, newest first) that ranks below it is preempted: its blocks are released and it
// recomputes later (its published prefix blocks usually survive in the prefix cache). With no
// such victim the sequence simply waits this step.
#include <cstdint>
#include <vector>

#include "core/engine/sequence.h"
#include "core/kv/kv_cache.h"

namespace hearth {

struct SchedulerOptions {
  int64_t token_budget = 512;   // tokens per step
  int64_t prefill_chunk = 256;  // prompt tokens per sequence per step
};

struct ScheduledSlice {
  Sequence* seq = nullptr;
  int64_t n_tokens = 0;  // tokens [seq->computed, seq->computed + n_tokens) run this step
};

struct SchedulePlan {
  std::vector<ScheduledSlice> slices;   // in batch order
  std::vector<Sequence*> preempted;     // blocks released, computed reset: back to waiting
};

class Scheduler {
 public:
  explicit Scheduler(SchedulerOptions options);

  // Plans one step over `running` (each with blocks reserved for its slice). Preempted
  // sequences are removed from `running`.
  SchedulePlan schedule(std::vector<Sequence*>& running, KvCache& kv, const CopyBlockFn& copy) const;

  // True when `a` ranks above `b` for keeping its memory (interactive first, then older).
  static bool ranks_above(const Sequence& a, const Sequence& b);

  const SchedulerOptions& options() const { return options_; }

 private:
  SchedulerOptions options_;
};

}  // namespace hearth
