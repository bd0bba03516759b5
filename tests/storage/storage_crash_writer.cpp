// Helper process of test_storage_crash: appends messages to the database at argv[1] forever
// (until killed), printing each message id on its own line once add_message() has returned,
// i.e. once the message is acknowledged. The test kills it with SIGKILL at random points.
// Every message has prompt_tokens == content length so the test can check each row whole.
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "storage/conversation_store.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: storage_crash_writer DB SEED\n");
    return 2;
  }
  try {
    hearth::Database db(argv[1]);
    hearth::ConversationStore store(db);
    std::mt19937 rng(static_cast<unsigned>(std::strtoul(argv[2], nullptr, 10)));
    auto listed = store.list(1);
    int64_t conversation = listed.empty() ? store.create("crash test") : listed[0].id;
    std::optional<int64_t> parent;
    if (!listed.empty()) parent = listed[0].active_leaf_id;
    for (int i = 0; i < 1000000; ++i) {
      const int op = static_cast<int>(rng() % 40);
      if (op == 0) {
        conversation = store.create("crash test " + std::to_string(i));
        parent.reset();
      } else if (op == 1) {
        store.rename(conversation, "renamed " + std::to_string(rng()));
      }
      // Sizes from empty to several pages, so rows overflow and pages split.
      const size_t length = rng() % 4 == 0 ? rng() % 20000 : rng() % 300;
      std::string content = "m" + std::string(length, static_cast<char>('a' + rng() % 26));
      hearth::NewMessage m{.parent_id = parent,
                           .role = hearth::Role::User,
                           .content = content,
                           .prompt_tokens = static_cast<int64_t>(content.size())};
      const int64_t id = store.add_message(conversation, m);
      parent = id;
      std::printf("%lld\n", static_cast<long long>(id));
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "storage_crash_writer: %s\n", e.what());
    return 1;
  }
  return 0;
}
