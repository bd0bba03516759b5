// ConversationStore, PresetStore, SettingsStore: CRUD, branches and the active path, delete with
// undo, and FTS5 search checked against a brute-force word search over the same messages.
#include <QTest>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "storage/preset_store.h"
#include "storage_test_support.h"

using namespace hearth;
using namespace hearth::test;

class TestConversationStore : public QObject {
  Q_OBJECT

 private slots:
  void createRenameList() {
    TempDatabase t;
    auto& s = *t.store;
    const int64_t a = s.create("first", {.model = "m", .system_prompt = "sys", .sampling_json = R"({"temperature":0.7})"});
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    const int64_t b = s.create("second");
    auto listed = s.list();
    QCOMPARE(listed.size(), size_t{2});
    QCOMPARE(listed[0].id, b);  // most recent first
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    s.rename(a, "renamed");     // a rename is a change: a comes first now
    listed = s.list();
    QCOMPARE(listed[0].id, a);
    QCOMPARE(QString::fromStdString(listed[0].title), QString("renamed"));
    QCOMPARE(QString::fromStdString(listed[0].settings.system_prompt), QString("sys"));
    QCOMPARE(s.list(1).size(), size_t{1});
    s.update_settings(b, {.model = "other", .system_prompt = "", .sampling_json = R"({"top_p":0.9})"});
    QCOMPARE(QString::fromStdString(s.get(b)->settings.model), QString("other"));
    QVERIFY_THROWS_EXCEPTION(Error, s.create("bad", {.sampling_json = "[1,2]"}));
    QVERIFY_THROWS_EXCEPTION(Error, s.update_settings(b, {.sampling_json = "{"}));
    QVERIFY_THROWS_EXCEPTION(Error, s.rename(12345, "nobody"));
    QVERIFY(!s.get(12345).has_value());
  }

  void branchesAndActivePath() {
    TempDatabase t;
    auto& s = *t.store;
    const int64_t c = s.create("tree");
    QVERIFY(s.active_path(c).empty());
    const int64_t q = s.add_message(c, {.role = Role::User, .content = "q"});
    const int64_t a1 = s.add_message(c, {.parent_id = q, .role = Role::Assistant, .content = "a1"});
    const int64_t f1 = s.add_message(c, {.parent_id = a1, .role = Role::User, .content = "f1"});
    const int64_t a2 = s.add_message(c, {.parent_id = q, .role = Role::Assistant, .content = "a2"});  // regenerate
    auto ids = [](const std::vector<Message>& ms) {
      std::vector<int64_t> out;
      for (const auto& m : ms) out.push_back(m.id);
      return out;
    };
    QCOMPARE(ids(s.active_path(c)), (std::vector<int64_t>{q, a2}));
    QCOMPARE(ids(s.children(c, q)), (std::vector<int64_t>{a1, a2}));
    QCOMPARE(ids(s.children(c, std::nullopt)), (std::vector<int64_t>{q}));
    // Switching to the first answer shows its newest continuation.
    QCOMPARE(s.select_branch(a1), f1);
    QCOMPARE(ids(s.active_path(c)), (std::vector<int64_t>{q, a1, f1}));
    QCOMPARE(s.get(c)->active_leaf_id, std::optional<int64_t>(f1));
    QCOMPARE(ids(s.all_messages(c)), (std::vector<int64_t>{q, a1, f1, a2}));
    // A parent from another conversation is refused, nothing written.
    const int64_t other = s.create("other");
    QVERIFY_THROWS_EXCEPTION(Error, s.add_message(other, {.parent_id = q, .content = "x"}));
    QVERIFY(s.all_messages(other).empty());
    QVERIFY_THROWS_EXCEPTION(Error, s.add_message(999, {.content = "x"}));
    QVERIFY_THROWS_EXCEPTION(Error, s.add_message(c, {.content = "x", .timings_json = "nope"}));
    const auto m = s.message(a1);
    QVERIFY(m.has_value());
    QCOMPARE(m->role, Role::Assistant);
    QCOMPARE(m->parent_id, std::optional<int64_t>(q));
  }

  void deleteWithUndo() {
    TempDatabase t;
    auto& s = *t.store;
    const int64_t keep = s.create("keep");
    const int64_t gone = s.create("gone zebra");
    s.add_message(gone, {.content = "zebra crossing"});
    s.soft_delete(gone);
    QCOMPARE(s.list().size(), size_t{1});
    QCOMPARE(s.list_deleted().size(), size_t{1});
    QVERIFY(s.search("zebra").empty());  // deleted conversations do not show in search
    s.restore(gone);
    QCOMPARE(s.list().size(), size_t{2});
    QCOMPARE(s.search("zebra").size(), size_t{2});  // the title and the message
    s.soft_delete(gone);
    QCOMPARE(s.purge_deleted(now_ms() - 60'000), 0);  // deleted just now: still in the undo window
    QCOMPARE(s.purge_deleted(now_ms() + 1), 1);
    QVERIFY(!s.get(gone).has_value());
    QVERIFY(s.get(keep).has_value());
    // The FTS index followed the cascade: nothing left to find, and the index is consistent.
    QVERIFY(s.search("zebra").empty());
    t.db->exec("INSERT INTO message_fts(message_fts) VALUES ('integrity-check')");
    t.db->exec("INSERT INTO title_fts(title_fts) VALUES ('integrity-check')");
    s.erase(keep);
    QVERIFY(s.list().empty());
    QCOMPARE(QString::fromStdString(t.db->integrity_check()), QString("ok"));
  }

  void searchMatchesBruteForce() {
    const unsigned seed = std::random_device{}();
    qInfo("seed %u", seed);
    std::mt19937 rng(seed);
    const std::vector<std::string> vocabulary = {"apple", "banana", "cherry", "damson", "elder", "fig",
                                                 "grape", "hazel",  "iris",   "juniper", "kiwi", "lime",
                                                 "mango", "nectar", "olive",  "papaya"};
    TempDatabase t;
    auto& s = *t.store;
    std::map<int64_t, std::string> text_of;  // message id -> content, conversations not deleted
    std::vector<int64_t> conversations;
    for (int c = 0; c < 6; ++c) {
      const int64_t id = s.create("chat " + std::to_string(c));
      conversations.push_back(id);
      for (int64_t m : add_random_tree(s, id, 30, rng, vocabulary)) text_of[m] = s.message(m)->content;
    }
    // Delete one conversation: its messages must not be found.
    s.soft_delete(conversations[2]);
    for (const auto& m : s.all_messages(conversations[2])) text_of.erase(m.id);
    // Edit nothing else; query one and two words, compare with a brute-force word match.
    const SearchOptions options{.limit = 10000, .mark_open = "<<", .mark_close = ">>"};
    for (int round = 0; round < 40; ++round) {
      const std::string w1 = vocabulary[rng() % vocabulary.size()];
      const std::string w2 = vocabulary[rng() % vocabulary.size()];
      const bool two = round % 2 == 1;
      const std::string query = two ? w1 + " " + w2 : w1;
      std::set<int64_t> expected;
      for (const auto& [id, text] : text_of) {
        std::istringstream words(text);
        std::set<std::string> present{std::istream_iterator<std::string>(words), {}};
        if (present.count(w1) && (!two || present.count(w2))) expected.insert(id);
      }
      std::set<int64_t> got;
      for (const auto& hit : s.search(query, options)) {
        if (!hit.message_id) continue;
        got.insert(*hit.message_id);
        QVERIFY2(hit.snippet.find("<<" + w1 + ">>") != std::string::npos, hit.snippet.c_str());
      }
      QVERIFY2(got == expected, query.c_str());
    }
    // Prefix search on the last word, title hits with marks.
    const auto prefix = s.search("chat 3", options);
    QVERIFY(!prefix.empty());
    QVERIFY(!prefix[0].message_id.has_value());
    QCOMPARE(QString::fromStdString(prefix[0].snippet), QString("<<chat>> <<3>>"));
    QCOMPARE(s.search("mang", options).empty(), std::none_of(text_of.begin(), text_of.end(), [](const auto& kv) {
               return kv.second.find("mango") != std::string::npos;
             }));
    // User text that is FTS5 syntax is searched as text, never an error.
    for (const char* odd : {"\"", "AND", "OR (", "NEAR(a b)", "*", "col:value", "'", "\"unbalanced", "", "   ", "-x", "^"}) {
      s.search(odd, options);
    }
    // The index follows edits of titles.
    s.rename(conversations[0], "renamed quokka");
    QCOMPARE(s.search("quokka").size(), size_t{1});
    for (const auto& hit : s.search("chat 0")) QVERIFY(hit.conversation_id != conversations[0]);
  }

  void presetsAndSettings() {
    TempDatabase t;
    PresetStore presets(*t.db);
    SettingsStore settings(*t.db);
    presets.put({"b", "be brief", R"({"temperature":0.2})"});
    presets.put({"a", "be kind", "{}"});
    presets.put({"b", "be briefer", R"({"temperature":0.1})"});  // replaces
    auto listed = presets.list();
    QCOMPARE(listed.size(), size_t{2});
    QCOMPARE(QString::fromStdString(listed[0].name), QString("a"));
    QCOMPARE(QString::fromStdString(presets.get("b")->system_prompt), QString("be briefer"));
    presets.rename("a", "c");
    QVERIFY(!presets.get("a").has_value());
    QVERIFY(presets.get("c").has_value());
    QVERIFY_THROWS_EXCEPTION(Error, presets.rename("c", "b"));
    QVERIFY_THROWS_EXCEPTION(Error, presets.rename("zz", "y"));
    QVERIFY_THROWS_EXCEPTION(Error, presets.put({"", "", "{}"}));
    QVERIFY_THROWS_EXCEPTION(Error, presets.put({"x", "", "not json"}));
    QVERIFY(presets.remove("b"));
    QVERIFY(!presets.remove("b"));
    QCOMPARE(presets.list().size(), size_t{1});

    QVERIFY(!settings.get("theme").has_value());
    QCOMPARE(settings.get_or("theme", "light"), std::string("light"));
    settings.set("theme", "dark");
    settings.set("theme", "solarized");
    QCOMPARE(settings.get("theme").value_or(""), std::string("solarized"));
    QVERIFY(settings.remove("theme"));
    QVERIFY(!settings.get("theme").has_value());

    // Another connection (another thread of the app) sees committed data.
    Database second(t.path);
    SettingsStore settings2(second);
    settings.set("k", "v");
    QCOMPARE(settings2.get("k").value_or(""), std::string("v"));
  }
};

QTEST_APPLESS_MAIN(TestConversationStore)
#include "test_conversation_store.moc"
