// dropped_message_indices (app/gui/context_drop.h) and build_prompt's dropped_messages: which
// messages of a chat the engine left out when the context was full, as the chat marks them. The
// reference replays the engine's rule independently with real token counts from the model's own
// renderer (stories260K); the engine's count and the chat's marks must equal it in every random
// chat.
#include <QTest>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "app/gui/context_drop.h"
#include "core/engine/prompt_builder.h"
#include "core/model/loaded_model.h"

using namespace hearth;

namespace {

std::string random_text(std::mt19937& rng, int min_words, int max_words) {
  static const char* const kWords[] = {"the", "little", "dog", "ran", "to", "park", "and", "played", "with",
                                       "a", "ball", "Lily", "said", "happy", "sun", "was", "big", "red"};
  std::uniform_int_distribution<int> words(min_words, max_words);
  std::uniform_int_distribution<size_t> pick(0, std::size(kWords) - 1);
  std::string out;
  for (int i = words(rng); i > 0; --i) out += std::string(out.empty() ? "" : " ") + kWords[pick(rng)];
  return out;
}

}  // namespace

class TestGuiContextDrop : public QObject {
  Q_OBJECT

 private slots:
  void nothingDroppedWithoutTruncation() {
    std::vector<ChatMessage> chat = {{"system", "s"}, {"user", "a"}, {"assistant", "b"}, {"user", "c"}};
    RequestUsage usage;
    usage.prompt_tokens = 40;
    QVERIFY(dropped_message_indices(chat, usage).empty());
    // Tokens cut from the middle, no whole message.
    usage.truncated_tokens = 12;
    QVERIFY(dropped_message_indices(chat, usage).empty());
  }

  void neverTheFirstOrTheLastMessage() {
    std::vector<ChatMessage> chat = {{"system", "s"}, {"user", "a"}, {"assistant", "b"}, {"user", "c"}};
    RequestUsage usage;
    usage.truncated_tokens = 30;
    usage.dropped_messages = 2;
    QCOMPARE(dropped_message_indices(chat, usage), (std::vector<int>{1, 2}));
    usage.dropped_messages = 9;  // a corrupt record
    QCOMPARE(dropped_message_indices(chat, usage), (std::vector<int>{1, 2}));
  }

  void theEngineReportsExactlyWhatItDropped() {
    const auto model = LoadedModel::open(HEARTH_SOURCE_DIR "/resources/models/stories260K.gguf");
    PromptRenderer renderer(*model);
    const uint32_t seed = std::random_device{}();
    std::printf("seed %u\n", seed);
    std::mt19937 rng(seed);
    int cases = 0, checked_against_engine = 0;
    for (int trial = 0; trial < 60; ++trial) {
      std::vector<ChatMessage> chat;
      if (rng() % 4 != 0) chat.push_back({"system", random_text(rng, 3, 12)});
      const int turns = 2 + static_cast<int>(rng() % 6);
      for (int t = 0; t < turns; ++t) {
        chat.push_back({"user", random_text(rng, 2, 25)});
        if (t + 1 < turns) chat.push_back({"assistant", random_text(rng, 2, 40)});
      }
      Request request;
      request.messages = chat;
      request.overflow = ContextOverflow::kTruncateMiddle;
      request.max_tokens = 8 + static_cast<int64_t>(rng() % 24);
      const int64_t full = static_cast<int64_t>(renderer.tokenize(chat, request).size());
      const int64_t limit = std::max<int64_t>(48, full * (40 + static_cast<int64_t>(rng() % 50)) / 100);
      const BuiltPrompt built = build_prompt(*model, renderer, request, limit, "the test context");
      if (built.truncated_tokens == 0) continue;

      // Reference: the engine's rule replayed with real token counts.
      const int64_t target = limit - std::clamp<int64_t>(request.max_tokens, 1, limit / 2);
      std::vector<int> kept(chat.size());
      for (size_t i = 0; i < kept.size(); ++i) kept[i] = static_cast<int>(i);
      std::vector<int> reference;
      auto tokens_of = [&](const std::vector<int>& idx) {
        std::vector<ChatMessage> sub;
        for (int i : idx) sub.push_back(chat[static_cast<size_t>(i)]);
        return renderer.tokenize(sub, request);
      };
      while (kept.size() > 2 && static_cast<int64_t>(tokens_of(kept).size()) > target) {
        reference.push_back(kept[1]);
        kept.erase(kept.begin() + 1);
        while (kept.size() > 2 && chat[static_cast<size_t>(kept[1])].role != "user") {
          reference.push_back(kept[1]);
          kept.erase(kept.begin() + 1);
        }
      }
      // The reference is the engine's: where whole turns were enough, the prompts are identical.
      const std::vector<TokenId> kept_tokens = tokens_of(kept);
      if (static_cast<int64_t>(kept_tokens.size()) <= target) {
        QVERIFY2(kept_tokens == built.tokens, qPrintable(QStringLiteral("trial %1").arg(trial)));
        ++checked_against_engine;
      }

      QCOMPARE(built.dropped_messages, static_cast<int64_t>(reference.size()));
      RequestUsage usage;
      usage.prompt_tokens = static_cast<int64_t>(built.tokens.size());
      usage.truncated_tokens = built.truncated_tokens;
      usage.dropped_messages = built.dropped_messages;
      QCOMPARE(dropped_message_indices(chat, usage), reference);
      ++cases;
    }
    std::printf("%d truncated chats, %d of them checked token for token against build_prompt\n", cases,
                checked_against_engine);
    QVERIFY(cases >= 20);
    QVERIFY(checked_against_engine >= 10);
  }
};

QTEST_APPLESS_MAIN(TestGuiContextDrop)
#include "test_gui_context_drop.moc"
