#pragma once
// Helpers shared by the storage tests: a fresh database in a temporary directory, and random
// conversation trees.
#include <QTemporaryDir>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "storage/conversation_store.h"

namespace hearth::test {

// Largest |a - b| relative to the largest |b| (logits compared against a reference row set).
inline double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0, scale = 1e-6;
  for (float v : b) scale = std::max(scale, double(std::abs(v)));
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(double(a[i]) - b[i]) / scale);
  return worst;
}

struct TempDatabase {
  QTemporaryDir dir;
  std::filesystem::path path = std::filesystem::path(dir.path().toStdString()) / "hearth.db";
  std::unique_ptr<Database> db = std::make_unique<Database>(path);
  std::unique_ptr<ConversationStore> store = std::make_unique<ConversationStore>(*db);
};

inline std::string random_words(std::mt19937& rng, const std::vector<std::string>& vocabulary, int min_words,
                                int max_words) {
  std::uniform_int_distribution<int> count(min_words, max_words);
  std::uniform_int_distribution<size_t> pick(0, vocabulary.size() - 1);
  std::string out;
  const int n = count(rng);
  for (int i = 0; i < n; ++i) {
    if (i) out += ' ';
    out += vocabulary[pick(rng)];
  }
  return out;
}

// A random message tree of `n` messages: each message answers a random earlier one (or is a
// new root with probability 1/8). Returns the ids in creation order.
inline std::vector<int64_t> add_random_tree(ConversationStore& store, int64_t conversation, int n, std::mt19937& rng,
                                            const std::vector<std::string>& vocabulary) {
  std::vector<int64_t> ids;
  for (int i = 0; i < n; ++i) {
    NewMessage m;
    if (!ids.empty() && rng() % 8 != 0) m.parent_id = ids[rng() % ids.size()];
    m.role = static_cast<Role>(rng() % 4);
    m.content = random_words(rng, vocabulary, 1, 12);
    m.prompt_tokens = static_cast<int64_t>(rng() % 1000);
    m.completion_tokens = static_cast<int64_t>(rng() % 1000);
    m.timings_json = "{\"decode_ms\":" + std::to_string(rng() % 5000) + "}";
    ids.push_back(store.add_message(conversation, m));
  }
  return ids;
}

}  // namespace hearth::test
