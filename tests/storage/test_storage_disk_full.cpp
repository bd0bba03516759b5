// Disk full, injected by capping the database file (PRAGMA max_page_count, which makes SQLite
// fail with SQLITE_FULL exactly as a full disk does): the write fails with a clear error, what
// was saved before is intact and readable, and writing works again once there is room.
#include <QTest>

#include <sys/mount.h>
#include <unistd.h>

#include "storage/conversation_export.h"
#include "storage/sqlite_kv_store.h"
#include "storage_test_support.h"

using namespace hearth;
using namespace hearth::test;

namespace {

void cap_at_current_size(Database& db) {
  // The cap cannot go below the current size, so this allows no growth at all.
  db.exec("PRAGMA max_page_count = 1");
}

}  // namespace

class TestStorageDiskFull : public QObject {
  Q_OBJECT

 private slots:
  void conversationWritesFailCleanly() {
    TempDatabase t;
    auto& s = *t.store;
    const int64_t c = s.create("before the disk filled");
    std::vector<int64_t> saved;
    for (int i = 0; i < 20; ++i) saved.push_back(s.add_message(c, {.content = "message " + std::to_string(i)}));
    const std::string before = export_json(s, c);

    cap_at_current_size(*t.db);
    const std::string big(4 << 20, 'x');
    try {
      s.add_message(c, {.parent_id = saved.back(), .content = big});
      QFAIL("a 4 MiB message fitted into a capped database");
    } catch (const StorageError& e) {
      QVERIFY2(e.disk_full(), e.what());
      QVERIFY2(std::string(e.what()).find("disk is full") != std::string::npos, e.what());
    }
    // An import that runs out of room half-way leaves nothing behind (one transaction).
    {
      std::string doc = "{\"format\":\"hearth.conversation\",\"version\":1,\"title\":\"big import\",\"messages\":[";
      for (int i = 0; i < 64; ++i) {
        if (i) doc += ',';
        doc += "{\"id\":" + std::to_string(i + 1) + ",\"parent\":null,\"role\":\"user\",\"content\":\"" +
               std::string(64 << 10, 'y') + "\"}";
      }
      doc += "]}";
      QVERIFY_THROWS_EXCEPTION(StorageError, import_json(s, doc));
    }
    // The same connection still reads everything saved before.
    QCOMPARE(s.list().size(), size_t{1});
    QCOMPARE(QString::fromStdString(export_json(s, c)), QString::fromStdString(before));

    // So does a fresh connection, and the file is sound.
    {
      Database fresh(t.path);
      ConversationStore reader(fresh);
      QCOMPARE(QString::fromStdString(fresh.integrity_check()), QString("ok"));
      QCOMPARE(reader.all_messages(c).size(), saved.size());
      QCOMPARE(QString::fromStdString(export_json(reader, c)), QString::fromStdString(before));
    }
    // Room again (a new connection has no cap): writing works.
    t.store.reset();
    t.db = std::make_unique<Database>(t.path);
    t.store = std::make_unique<ConversationStore>(*t.db);
    const int64_t after = t.store->add_message(c, {.parent_id = saved.back(), .content = big});
    QCOMPARE(t.store->message(after)->content.size(), big.size());
  }

  // A real full file system where we may mount one (root on Linux): a 1 MiB tmpfs.
  void realDiskFullOnTmpfs() {
    if (geteuid() != 0) QSKIP("needs root to mount a small tmpfs");
    QTemporaryDir dir;
    const std::string mount_point = dir.path().toStdString();
    if (mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=1m") != 0) QSKIP("cannot mount a tmpfs here");
    struct Unmount {
      std::string at;
      ~Unmount() { umount(at.c_str()); }
    } unmount{mount_point};
    const std::filesystem::path path = std::filesystem::path(mount_point) / "hearth.db";
    int64_t c = 0;
    std::vector<int64_t> saved;
    std::string before;
    {
      Database db(path);
      ConversationStore s(db);
      c = s.create("on a tiny disk");
      for (int i = 0; i < 10; ++i) saved.push_back(s.add_message(c, {.content = "small " + std::to_string(i)}));
      before = export_json(s, c);
      bool failed = false;
      for (int i = 0; i < 64 && !failed; ++i) {
        try {
          s.add_message(c, {.content = std::string(32 << 10, 'z')});
        } catch (const StorageError& e) {
          QVERIFY2(e.disk_full() || (e.sqlite_code() & 0xff) == 10 /* SQLITE_IOERR */, e.what());
          qInfo("full after %d large messages: %s", i, e.what());
          failed = true;
        }
      }
      QVERIFY(failed);
    }
    Database db(path);
    QCOMPARE(QString::fromStdString(db.integrity_check()), QString("ok"));
    ConversationStore s(db);
    const auto messages = s.all_messages(c);
    QVERIFY(messages.size() >= saved.size());
    for (size_t i = 0; i < saved.size(); ++i) QCOMPARE(messages[i].id, saved[i]);
  }

  void kvSaveSwallowsDiskFull() {
    QTemporaryDir dir;
    SqliteKvStore store(std::filesystem::path(dir.path().toStdString()) / "kv-cache.db");
    KvFingerprint fp{0x1234, {.n_layer = 2, .n_kv_head = 2, .head_dim = 8, .block_tokens = 16, .dtype = DType::F32}};
    std::mt19937 rng(7);
    auto block = [&](uint64_t hash) {
      KvBlockRecord b{hash, hash - 1, std::vector<TokenId>(16), std::vector<std::byte>(fp.geometry.block_bytes())};
      for (auto& t : b.tokens) t = static_cast<TokenId>(rng() % 32000);
      for (auto& x : b.data) x = static_cast<std::byte>(rng());  // incompressible
      return b;
    };
    const std::vector<KvBlockRecord> first = {block(100), block(101)};
    store.save(fp, "chat", first);
    QVERIFY(store.contains(fp, 100));
    cap_at_current_size(store.database());
    std::vector<KvBlockRecord> many;
    for (uint64_t h = 200; h < 400; ++h) many.push_back(block(h));
    store.save(fp, "chat", many);  // must not throw
    QVERIFY(!store.contains(fp, 200));
    const auto loaded = store.load(fp, 101);
    QVERIFY(loaded.has_value());
    QVERIFY(loaded->data == first[1].data);
  }
};

QTEST_APPLESS_MAIN(TestStorageDiskFull)
#include "test_storage_disk_full.moc"
