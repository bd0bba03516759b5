#pragma once
// StorageWorker: the one thread that touches hearth.db for the GUI. The storage/ API is
// synchronous (it waits on the disk), so the GUI thread never calls it: it posts jobs here and
// gets their results back as queued calls on its own thread.
//
//   worker.post(receiver, [](StorageContext& s) { return s.conversations.list(); },
//               [](std::vector<Conversation> list) { /* GUI thread */ });
//
// Jobs run one at a time in the order posted (FIFO), so a later job sees what an earlier one
// wrote. A job that throws reports through failed(); its `done` is not called. `done` is
// dropped when `receiver` was destroyed meanwhile. The destructor runs the jobs already posted,
// then closes the database.
#include <filesystem>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include <QObject>
#include <QPointer>
#include <QString>
#include <QThread>

#include "storage/conversation_store.h"
#include "storage/database.h"
#include "storage/preset_store.h"

namespace hearth {

// What a job may use; valid only inside the job, on the worker thread.
struct StorageContext {
  Database& db;
  ConversationStore& conversations;
  PresetStore& presets;
  SettingsStore& settings;
};

class StorageWorker : public QObject {
  Q_OBJECT

 public:
  explicit StorageWorker(std::filesystem::path db_path, QObject* parent = nullptr);
  ~StorageWorker() override;

  // Job: R(StorageContext&); Done: void(R) (or void() when R is void). Call from the GUI thread.
  template <class Job, class Done>
  void post(QObject* receiver, Job job, Done done);
  // Fire and forget (writes whose outcome only matters when it fails).
  void post(std::function<void(StorageContext&)> job);

  // Blocks until every job posted so far has run. Tests and shutdown only.
  void wait_for_idle();

  const std::filesystem::path& db_path() const { return db_path_; }

 signals:
  // A job failed (GUI thread): the message says what and why.
  void failed(const QString& message);

 private:
  struct Stores;
  // Runs `job` on the worker thread with the stores (opened on first use), catching errors.
  void enqueue(std::function<void(StorageContext&)> job);
  void run(const std::function<void(StorageContext&)>& job);  // worker thread

  std::filesystem::path db_path_;
  QThread thread_;
  QObject* worker_ = nullptr;        // lives in thread_; jobs are queued calls on it
  std::unique_ptr<Stores> stores_;   // worker thread only
};

template <class Job, class Done>
void StorageWorker::post(QObject* receiver, Job job, Done done) {
  using Result = std::invoke_result_t<Job&, StorageContext&>;
  QPointer<QObject> guard(receiver);
  enqueue([this, guard, job = std::move(job), done = std::move(done)](StorageContext& ctx) mutable {
    if constexpr (std::is_void_v<Result>) {
      job(ctx);
      QMetaObject::invokeMethod(this, [guard, done = std::move(done)]() mutable {
        if (guard) done();
      }, Qt::QueuedConnection);
    } else {
      Result result = job(ctx);
      // Delivered through `this` (a GUI-thread object that outlives every job); the receiver is
      // checked there, on its own thread.
      QMetaObject::invokeMethod(this, [guard, done = std::move(done), result = std::move(result)]() mutable {
        if (guard) done(std::move(result));
      }, Qt::QueuedConnection);
    }
  });
}

}  // namespace hearth
