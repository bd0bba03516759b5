// Migrations of hearth.db from every earlier schema version: a database is created at version k
// with the steps of that time, filled through plain SQL of that version, migrated to the latest
// version, and its data read back through the stores.
#include <QTemporaryDir>
#include <QTest>

#include <random>

#include "storage/conversation_schema.h"
#include "storage/conversation_store.h"
#include "storage/preset_store.h"

using namespace hearth;

namespace {

// What a version-1 database holds, written by plain SQL (the API of that time is gone).
struct OldMessage {
  int64_t id;
  int64_t conversation;
  std::optional<int64_t> parent;
  std::string role;
  std::string content;
};

struct Fixture {
  std::vector<std::pair<int64_t, std::string>> conversations;  // id, title
  std::vector<OldMessage> messages;
  std::vector<std::pair<std::string, std::string>> settings;
};

Fixture make_fixture(std::mt19937& rng) {
  Fixture f;
  const char* words[] = {"kettle", "harbor", "lantern", "quartz", "meadow", "violet", "cobalt", "ember"};
  std::uniform_int_distribution<int> word(0, 7);
  int64_t next_message = 1;
  for (int64_t c = 1; c <= 3; ++c) {
    f.conversations.push_back({c, std::string("title ") + words[word(rng)] + " " + std::to_string(c)});
    // A small tree: a root, two replies to it (a regeneration), a reply to the first.
    const int64_t root = next_message++;
    f.messages.push_back({root, c, std::nullopt, "user", std::string("question ") + words[word(rng)]});
    const int64_t a = next_message++;
    f.messages.push_back({a, c, root, "assistant", std::string("answer ") + words[word(rng)]});
    const int64_t b = next_message++;
    f.messages.push_back({b, c, root, "assistant", std::string("regenerated ") + words[word(rng)]});
    const int64_t d = next_message++;
    f.messages.push_back({d, c, a, "user", std::string("follow-up ") + words[word(rng)]});
  }
  f.settings = {{"theme", "dark"}, {"kv_cache.max_bytes", "1000000"}};
  return f;
}

void fill_version_1(Database& db, const Fixture& f) {
  for (const auto& [id, title] : f.conversations) {
    db.prepare("INSERT INTO conversations (id, title, created_at, updated_at, model, system_prompt, sampling_json) "
               "VALUES (?1, ?2, ?3, ?3, 'stories260K', 'be brief', '{\"temperature\":0.5}')")
        .bind(1, id)
        .bind(2, title)
        .bind(3, int64_t{1700000000000} + id)
        .run();
  }
  for (const auto& m : f.messages) {
    db.prepare("INSERT INTO messages (id, conversation_id, parent_id, role, content, created_at) "
               "VALUES (?1, ?2, ?3, ?4, ?5, 1700000000000)")
        .bind(1, m.id)
        .bind(2, m.conversation)
        .bind(3, m.parent)
        .bind(4, m.role)
        .bind(5, m.content)
        .run();
  }
  for (const auto& [key, value] : f.settings) {
    db.prepare("INSERT INTO settings (key, value) VALUES (?1, ?2)").bind(1, key).bind(2, value).run();
  }
}

void fill_version_2(Database& db) {
  db.exec("INSERT INTO presets (name, system_prompt, sampling_json) VALUES ('terse', 'answer in one line', '{\"top_k\":5}')");
}

}  // namespace

class TestStorageMigrations : public QObject {
  Q_OBJECT

 private slots:
  void stepsMatchVersion() { QCOMPARE(int(conversation_schema_steps().size()), kConversationSchemaVersion); }

  void fromEveryEarlierVersion() {
    const unsigned seed = std::random_device{}();
    qInfo("seed %u", seed);
    std::mt19937 rng(seed);
    for (int from = 0; from < kConversationSchemaVersion; ++from) {
      QTemporaryDir dir;
      QVERIFY(dir.isValid());
      const std::filesystem::path path = dir.filePath("hearth.db").toStdString();
      const Fixture f = make_fixture(rng);
      {
        Database db(path);
        migrate_conversation_schema(db, from);
        QCOMPARE(db.user_version(), from);
        if (from >= 1) fill_version_1(db, f);
        if (from >= 2) fill_version_2(db);
      }
      Database db(path);  // a later start of the app
      ConversationStore store(db);
      PresetStore presets(db);
      SettingsStore settings(db);
      QCOMPARE(db.user_version(), kConversationSchemaVersion);
      QCOMPARE(QString::fromStdString(db.integrity_check()), QString("ok"));
      if (from == 0) {
        QVERIFY(store.list().empty());
        continue;
      }
      // Conversations and messages intact.
      const auto listed = store.list();
      QCOMPARE(listed.size(), f.conversations.size());
      for (const auto& [id, title] : f.conversations) {
        const auto c = store.get(id);
        QVERIFY(c.has_value());
        QCOMPARE(QString::fromStdString(c->title), QString::fromStdString(title));
        QCOMPARE(QString::fromStdString(c->settings.model), QString("stories260K"));
        QCOMPARE(QString::fromStdString(c->settings.sampling_json), QString("{\"temperature\":0.5}"));
        QVERIFY(!c->deleted_at_ms.has_value());
        // Version 3 chose the newest message as the branch shown.
        int64_t newest = 0;
        for (const auto& m : f.messages) {
          if (m.conversation == id) newest = std::max(newest, m.id);
        }
        QCOMPARE(c->active_leaf_id.value_or(-1), newest);
        // Search finds old titles (version 2 indexed what version 1 held).
        const auto title_hits = store.search(title);
        QVERIFY2(std::any_of(title_hits.begin(), title_hits.end(),
                             [&](const SearchHit& h) { return h.conversation_id == id && !h.message_id; }),
                 title.c_str());
      }
      for (const auto& m : f.messages) {
        const auto got = store.message(m.id);
        QVERIFY(got.has_value());
        QCOMPARE(got->conversation_id, m.conversation);
        QCOMPARE(got->parent_id, m.parent);
        QCOMPARE(QString(role_name(got->role).data()), QString::fromStdString(m.role));
        QCOMPARE(QString::fromStdString(got->content), QString::fromStdString(m.content));
        const auto hits = store.search(m.content);
        QVERIFY2(std::any_of(hits.begin(), hits.end(), [&](const SearchHit& h) { return h.message_id == m.id; }),
                 m.content.c_str());
      }
      // The active path of a migrated conversation: root -> first answer -> follow-up.
      const auto path_of_1 = store.active_path(1);
      QCOMPARE(path_of_1.size(), size_t{3});
      QCOMPARE(path_of_1[0].id, int64_t{1});
      QCOMPARE(path_of_1[1].id, int64_t{2});
      QCOMPARE(path_of_1[2].id, int64_t{4});
      for (const auto& [key, value] : f.settings) QCOMPARE(settings.get(key).value_or("?"), value);
      if (from >= 2) {
        const auto terse = presets.get("terse");
        QVERIFY(terse.has_value());
        QCOMPARE(QString::fromStdString(terse->system_prompt), QString("answer in one line"));
      }
      // New features work on the migrated data.
      store.soft_delete(2);
      QCOMPARE(store.list().size(), f.conversations.size() - 1);
      store.restore(2);
      const int64_t added = store.add_message(1, {.parent_id = 2, .role = Role::User, .content = "migrated reply"});
      QCOMPARE(store.active_path(1).back().id, added);
    }
  }

  void newerDatabaseIsRefused() {
    QTemporaryDir dir;
    const std::filesystem::path path = dir.filePath("hearth.db").toStdString();
    {
      Database db(path);
      migrate_conversation_schema(db);
      db.exec("PRAGMA user_version = 99");
    }
    Database db(path);
    try {
      ConversationStore store(db);
      QFAIL("a database from a newer version was opened");
    } catch (const StorageError& e) {
      QVERIFY2(std::string(e.what()).find("newer") != std::string::npos, e.what());
    }
  }

  void notADatabaseIsAClearError() {
    QTemporaryDir dir;
    const std::filesystem::path path = dir.filePath("hearth.db").toStdString();
    {
      FILE* f = std::fopen(path.c_str(), "wb");
      QVERIFY(f);
      const std::string junk(8192, 'x');
      std::fwrite(junk.data(), 1, junk.size(), f);
      std::fclose(f);
    }
    try {
      Database db(path);
      ConversationStore store(db);
      QFAIL("a file of junk opened as a database");
    } catch (const StorageError& e) {
      QVERIFY2(std::string(e.what()).find("not a database") != std::string::npos, e.what());
    }
  }
};

QTEST_APPLESS_MAIN(TestStorageMigrations)
#include "test_storage_migrations.moc"
