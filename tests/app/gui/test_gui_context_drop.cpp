// dropped_message_indices / estimate_dropped (app/gui/context_drop.h): which messages of a chat
// the engine left out when the context was full, as the chat marks them. The reference replays
// the engine's rule with real token counts from the model's own renderer (stories260K), and is
// itself checked against the engine's build_prompt; the estimate (which sees only token totals)
// must agree with it in most random chats and never drop the first or the last message.
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
    QVERIFY(estimate_dropped(chat, 40, 40).empty());
    // Two messages: only the middle of the text can be cut, no message is dropped.
    QVERIFY(estimate_dropped({{"system", "s"}, {"user", "a long one"}}, 400, 40).empty());
  }

  void aDroppedTurnTakesItsRepliesAlong() {
    // Weights: 8 + length each; the first turn (user + assistant) must go, the last stays.
    std::vector<ChatMessage> chat = {{"system", std::string(12, 's')}, {"user", std::string(40, 'u')},
                                     {"assistant", std::string(40, 'a')}, {"user", std::string(12, 'q')}};
    const std::vector<int> dropped = estimate_dropped(chat, 136, 60);
    QCOMPARE(dropped, (std::vector<int>{1, 2}));
  }

  void estimateAgreesWithTheEnginesRule() {
    const auto model = LoadedModel::open(HEARTH_SOURCE_DIR "/resources/models/stories260K.gguf");
    PromptRenderer renderer(*model);
    const uint32_t seed = std::random_device{}();
    std::printf("seed %u\n", seed);
    std::mt19937 rng(seed);
    int cases = 0, exact = 0, checked_against_engine = 0;
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

      RequestUsage usage;
      usage.prompt_tokens = static_cast<int64_t>(built.tokens.size());
      usage.truncated_tokens = built.truncated_tokens;
      const std::vector<int> estimate = dropped_message_indices(chat, usage);
      ++cases;
      if (estimate == reference) ++exact;
      // Never the first or the last message; always the oldest ones (1, 2, 3, ...).
      for (size_t i = 0; i < estimate.size(); ++i) QCOMPARE(estimate[i], static_cast<int>(i) + 1);
      QVERIFY(estimate.size() + 2 <= chat.size());
      // Off by at most one turn (two messages) from the truth.
      QVERIFY2(std::abs(static_cast<int>(estimate.size()) - static_cast<int>(reference.size())) <= 2,
               qPrintable(QStringLiteral("trial %1: estimate %2, reference %3 messages")
                              .arg(trial).arg(estimate.size()).arg(reference.size())));
    }
    std::printf("%d truncated chats, %d estimates exact, %d references checked against build_prompt\n", cases, exact,
                checked_against_engine);
    QVERIFY(cases >= 20);
    QVERIFY(checked_against_engine >= 10);
    QVERIFY2(exact * 10 >= cases * 7, "the estimate is exact in fewer than 70% of the chats");
  }
};

QTEST_APPLESS_MAIN(TestGuiContextDrop)
#include "test_gui_context_drop.moc"
