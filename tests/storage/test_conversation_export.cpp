// Export to Markdown and JSON, import of that JSON: round trip of random trees (every branch),
// and malformed or hostile files rejected with a clear error while what was saved stays intact.
#include <QTest>

#include <map>

#include <nlohmann/json.hpp>

#include "storage/conversation_export.h"
#include "storage_test_support.h"

using namespace hearth;
using namespace hearth::test;
using nlohmann::json;

namespace {

const std::vector<std::string> kVocabulary = {"tea", "kettle", "steam", "cup", "über", "naïve", "日本", "emoji🙂",
                                              "\"quoted\"", "back\\slash", "new\nline", "tab\there"};

// A conversation as a shape independent of ids: each message with the index of its parent.
struct Shape {
  std::string title, model, system_prompt, sampling;
  std::vector<std::tuple<int, Role, std::string, int64_t, int64_t, std::string, int64_t>> messages;
  int active_leaf = -1;
  bool operator==(const Shape&) const = default;
};

Shape shape_of(ConversationStore& s, int64_t id) {
  const auto c = s.get(id);
  Shape shape{c->title, c->settings.model, c->settings.system_prompt, json::parse(c->settings.sampling_json).dump(), {}, -1};
  std::map<int64_t, int> index_of;
  for (const Message& m : s.all_messages(id)) {
    const int parent = m.parent_id ? index_of.at(*m.parent_id) : -1;
    index_of[m.id] = static_cast<int>(shape.messages.size());
    shape.messages.emplace_back(parent, m.role, m.content, m.prompt_tokens, m.completion_tokens,
                                json::parse(m.timings_json).dump(), m.created_at_ms);
  }
  if (c->active_leaf_id) shape.active_leaf = index_of.at(*c->active_leaf_id);
  return shape;
}

}  // namespace

class TestConversationExport : public QObject {
  Q_OBJECT

 private slots:
  void jsonRoundTripKeepsEveryBranch() {
    const unsigned seed = std::random_device{}();
    qInfo("seed %u", seed);
    std::mt19937 rng(seed);
    TempDatabase t;
    auto& s = *t.store;
    for (int round = 0; round < 5; ++round) {
      const int64_t id = s.create(random_words(rng, kVocabulary, 1, 4),
                                  {.model = "stories260K", .system_prompt = random_words(rng, kVocabulary, 0, 8),
                                   .sampling_json = R"({"temperature":0.8,"top_k":40,"stop":["\n\n"]})"});
      const auto ids = add_random_tree(s, id, 1 + static_cast<int>(rng() % 40), rng, kVocabulary);
      s.select_branch(ids[rng() % ids.size()]);
      const std::string exported = export_json(s, id);
      const int64_t imported = import_json(s, exported);
      QVERIFY(imported != id);
      QVERIFY2(shape_of(s, imported) == shape_of(s, id), exported.c_str());
      // The Markdown shows the active branch, in order, and no other branch.
      const std::string md = export_markdown(s, id);
      size_t at = 0;
      for (const Message& m : s.active_path(id)) {
        const size_t found = md.find(m.content, at);
        QVERIFY2(found != std::string::npos, md.c_str());
        at = found + m.content.size();
      }
      QVERIFY(md.rfind("# ", 0) == 0);
    }
    // Five originals and their five imports.
    QCOMPARE(s.list().size(), size_t{10});
  }

  void malformedImportsAreRejected() {
    TempDatabase t;
    auto& s = *t.store;
    const int64_t kept = s.create("precious");
    const int64_t q = s.add_message(kept, {.role = Role::User, .content = "keep me"});
    s.add_message(kept, {.parent_id = q, .role = Role::Assistant, .content = "and me"});
    const std::string before = export_json(s, kept);
    const size_t conversations_before = s.list().size();

    const json good = json::parse(before);
    auto with = [&](auto edit) {
      json doc = good;
      edit(doc);
      return doc.dump();
    };
    std::string deep(100000, '[');
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"empty", ""},
        {"truncated", before.substr(0, before.size() / 2)},
        {"not an object", "[1,2,3]"},
        {"nesting bomb", deep},
        {"wrong format", with([](json& d) { d["format"] = "something else"; })},
        {"newer version", with([](json& d) { d["version"] = 2; })},
        {"title not a string", with([](json& d) { d["title"] = 5; })},
        {"no messages", with([](json& d) { d.erase("messages"); })},
        {"messages not an array", with([](json& d) { d["messages"] = json::object(); })},
        {"message not an object", with([](json& d) { d["messages"][0] = "hi"; })},
        {"bad role", with([](json& d) { d["messages"][0]["role"] = "admin"; })},
        {"content not a string", with([](json& d) { d["messages"][0]["content"] = json::array(); })},
        {"negative tokens", with([](json& d) { d["messages"][0]["prompt_tokens"] = -1; })},
        {"huge tokens", with([](json& d) { d["messages"][0]["prompt_tokens"] = 18446744073709551615ull; })},
        {"float tokens", with([](json& d) { d["messages"][0]["prompt_tokens"] = 1.5; })},
        {"timings not an object", with([](json& d) { d["messages"][0]["timings"] = "fast"; })},
        {"duplicate id", with([](json& d) { d["messages"][1]["id"] = d["messages"][0]["id"]; })},
        {"forward parent", with([](json& d) { d["messages"][0]["parent"] = d["messages"][1]["id"]; })},
        {"self parent", with([](json& d) { d["messages"][0]["parent"] = d["messages"][0]["id"]; })},
        {"unknown parent", with([](json& d) { d["messages"][1]["parent"] = 424242; })},
        {"string id", with([](json& d) { d["messages"][0]["id"] = "1"; })},
        {"unknown active leaf", with([](json& d) { d["active_leaf"] = 424242; })},
        {"invalid UTF-8", "{\"format\":\"hearth.conversation\",\"version\":1,\"title\":\"\xff\xfe\",\"messages\":[]}"},
    };
    for (const auto& [name, text] : cases) {
      try {
        import_json(s, text);
        QFAIL(("accepted: " + name).c_str());
      } catch (const FormatError& e) {
        const std::string message = e.what();
        QVERIFY2(message.find("conversation import") != std::string::npos, message.c_str());
        qInfo("%s -> %s", name.c_str(), message.substr(0, 160).c_str());
      }
    }
    QCOMPARE(s.list().size(), conversations_before);
    QCOMPARE(QString::fromStdString(export_json(s, kept)), QString::fromStdString(before));
    QCOMPARE(QString::fromStdString(t.db->integrity_check()), QString("ok"));
  }
};

QTEST_APPLESS_MAIN(TestConversationExport)
#include "test_conversation_export.moc"
