// Crash safety: storage_crash_writer appends messages and prints each acknowledged id; it is
// killed with SIGKILL at random points (random times, and right after a random number of
// acknowledgements, i.e. inside the next transaction), HEARTH_CRASH_CYCLES times. After every
// kill a fresh connection must find the file sound (PRAGMA integrity_check) and every
// acknowledged message present and whole.
#include <QTemporaryDir>
#include <QTest>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <set>
#include <thread>

#include "storage/conversation_store.h"

extern char** environ;

using namespace hearth;

namespace {

struct Cycle {
  std::vector<int64_t> acknowledged;
  bool exited_by_itself = false;
  std::string stderr_text;
};

// Starts the writer, kills it after `delay` or after `acks` acknowledgements (whichever is set).
Cycle run_writer(const std::string& db, unsigned seed, std::chrono::microseconds delay, int acks) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) qFatal("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  const std::string seed_text = std::to_string(seed);
  char* argv[] = {const_cast<char*>(HEARTH_CRASH_WRITER), const_cast<char*>(db.c_str()),
                  const_cast<char*>(seed_text.c_str()), nullptr};
  pid_t pid = 0;
  if (posix_spawn(&pid, HEARTH_CRASH_WRITER, &actions, nullptr, argv, environ) != 0) qFatal("spawn");
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);

  Cycle cycle;
  std::string buffer;
  auto drain = [&](int timeout_ms) {
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    char chunk[4096];
    const ssize_t n = read(out[0], chunk, sizeof chunk);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(n));
    return true;
  };
  auto complete_lines = [&]() { return static_cast<int>(std::count(buffer.begin(), buffer.end(), '\n')); };
  if (acks > 0) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (complete_lines() < acks && std::chrono::steady_clock::now() < give_up) drain(100);
  } else {
    std::this_thread::sleep_for(delay);
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  cycle.exited_by_itself = !(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  while (drain(1000)) {
  }
  close(out[0]);
  // Only whole lines were acknowledged; a line cut by the kill was not (and cannot be: the
  // id is printed after the commit returned, in one write).
  size_t start = 0;
  for (size_t nl; (nl = buffer.find('\n', start)) != std::string::npos; start = nl + 1) {
    cycle.acknowledged.push_back(std::stoll(buffer.substr(start, nl - start)));
  }
  return cycle;
}

}  // namespace

class TestStorageCrash : public QObject {
  Q_OBJECT

 private slots:
  void sigkillNeverLosesAcknowledgedMessages() {
    const unsigned seed = std::random_device{}();
    qInfo("seed %u, %d cycles", seed, HEARTH_CRASH_CYCLES);
    std::mt19937 rng(seed);
    QTemporaryDir dir;
    const std::string db_path = dir.filePath("hearth.db").toStdString();
    std::set<int64_t> acknowledged;
    int kills_during_open = 0;
    for (int cycle = 0; cycle < HEARTH_CRASH_CYCLES; ++cycle) {
      const bool by_acks = rng() % 2 == 0;
      const auto delay = std::chrono::microseconds(rng() % 40000);
      const int acks = 1 + static_cast<int>(rng() % 12);
      const Cycle result = run_writer(db_path, static_cast<unsigned>(rng()), delay, by_acks ? acks : 0);
      QVERIFY2(!result.exited_by_itself, "the writer exited before it was killed (see its stderr)");
      if (result.acknowledged.empty()) ++kills_during_open;
      acknowledged.insert(result.acknowledged.begin(), result.acknowledged.end());

      if (!std::filesystem::exists(db_path)) continue;  // killed before the file existed
      // integrity_check reads the whole file: every cycle for the first 200, then every 10th
      // (the slow variant's file grows large) and after the last.
      const bool full_check = cycle < 200 || cycle % 10 == 0 || cycle + 1 == HEARTH_CRASH_CYCLES;
      Database db(db_path);
      if (full_check) {
        const std::string integrity = db.integrity_check();
        QVERIFY2(integrity == "ok", (std::to_string(cycle) + ": " + integrity).c_str());
      }
      if (db.user_version() == 0) {
        QVERIFY2(acknowledged.empty(), "messages acknowledged but the schema is gone");
        continue;
      }
      ConversationStore store(db);
      // Every message acknowledged so far is there; those of this cycle are whole.
      auto ids = db.prepare("SELECT id FROM messages");
      std::set<int64_t> present;
      while (ids.step()) present.insert(ids.int64(0));
      for (int64_t id : acknowledged) {
        QVERIFY2(present.count(id), ("acknowledged message " + std::to_string(id) + " lost in cycle " +
                                     std::to_string(cycle)).c_str());
      }
      auto row = db.prepare("SELECT length(content), prompt_tokens, substr(content, 1, 1) FROM messages WHERE id = ?1");
      for (int64_t id : result.acknowledged) {
        row.reset();
        row.bind(1, id);
        QVERIFY(row.step());
        QVERIFY2(row.int64(0) == row.int64(1) && row.text(2) == "m", "a message row is damaged");
      }
      row.reset();
    }
    qInfo("%zu messages acknowledged; %d kills before the first acknowledgement", acknowledged.size(),
          kills_during_open);
    QVERIFY(acknowledged.size() > static_cast<size_t>(HEARTH_CRASH_CYCLES));
  }
};

QTEST_APPLESS_MAIN(TestStorageCrash)
#include "test_storage_crash.moc"
