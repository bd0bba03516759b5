#include "core/engine/scheduler.h"

#include <algorithm>

#include "core/common/error.h"

namespace hearth {

Scheduler::Scheduler(SchedulerOptions options) : options_(options) {
  if (options_.token_budget < 1) throw Error("the scheduler's token budget must be at least 1");
  if (options_.prefill_chunk < 1) throw Error("the prefill chunk must be at least 1 token");
}

bool Scheduler::ranks_above(const Sequence& a, const Sequence& b) {
  if (a.interactive() != b.interactive()) return a.interactive();
  return a.id < b.id;  // ids grow with submission time
}

SchedulePlan Scheduler::schedule(std::vector<Sequence*>& running, KvCache& kv, const CopyBlockFn& copy) const {
  std::vector<Sequence*> order = running;
  std::stable_sort(order.begin(), order.end(), [](const Sequence* a, const Sequence* b) {
    if (a->decoding() != b->decoding()) return a->decoding();
    return ranks_above(*a, *b);
  });

  SchedulePlan plan;
  std::vector<uint8_t> gone(order.size(), 0);  // preempted this step
  int64_t budget = options_.token_budget;
  for (size_t i = 0; i < order.size() && budget > 0; ++i) {
    if (gone[i]) continue;
    Sequence& s = *order[i];
    const int64_t behind = s.known() - s.computed;
    if (behind <= 0) continue;
    // A decoding sequence runs its token and its draft tokens (if any) in one slice.
    int64_t n = std::min({behind, budget, s.decoding() ? behind : options_.prefill_chunk});
    bool reserved = false;
    while (!(reserved = kv.prepare_write(s.table, s.computed, s.computed + n, copy))) {
      if (s.n_draft > 0 && n > 1) {  // drafts are optional: drop them before preempting anyone
        n = 1;
        continue;
      }
      // The lowest-ranked other sequence below this one gives its blocks back.
      std::optional<size_t> victim;
      for (size_t j = 0; j < order.size(); ++j) {
        if (j == i || gone[j] || order[j]->table.blocks.empty() || !ranks_above(s, *order[j])) continue;
        if (!victim || ranks_above(*order[*victim], *order[j])) victim = j;
      }
      if (!victim) break;
      Sequence& v = *order[*victim];
      kv.release(v.table);
      v.computed = 0;
      ++v.preemptions;
      gone[*victim] = 1;
      plan.preempted.push_back(&v);
      // A victim scheduled earlier in this step gives its budget back too.
      for (auto it = plan.slices.begin(); it != plan.slices.end(); ++it) {
        if (it->seq == &v) {
          budget += it->n_tokens;
          plan.slices.erase(it);
          break;
        }
      }
    }
    if (!reserved) continue;  // waits this step
    plan.slices.push_back({&s, n});
    budget -= n;
  }
  if (!plan.preempted.empty()) {
    std::erase_if(running, [&](Sequence* s) {
      return std::find(plan.preempted.begin(), plan.preempted.end(), s) != plan.preempted.end();
    });
  }
  return plan;
}

}  // namespace hearth
