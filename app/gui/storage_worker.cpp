#include "app/gui/storage_worker.h"

#include <exception>
#include <future>

namespace hearth {

struct StorageWorker::Stores {
  explicit Stores(const std::filesystem::path& path)
      : db(path), conversations(db), presets(db), settings(db) {}
  Database db;
  ConversationStore conversations;
  PresetStore presets;
  SettingsStore settings;
};

StorageWorker::StorageWorker(std::filesystem::path db_path, QObject* parent)
    : QObject(parent), db_path_(std::move(db_path)) {
  thread_.setObjectName(QStringLiteral("hearth-storage"));
  worker_ = new QObject;
  worker_->moveToThread(&thread_);
  thread_.start();
}

StorageWorker::~StorageWorker() {
  // The quit is queued behind every job already posted, so they all run (FIFO) before the
  // database closes on its own thread.
  QMetaObject::invokeMethod(worker_, [this] {
    stores_.reset();
    thread_.quit();
  }, Qt::QueuedConnection);
  thread_.wait();
  delete worker_;
}

void StorageWorker::post(std::function<void(StorageContext&)> job) { enqueue(std::move(job)); }

void StorageWorker::enqueue(std::function<void(StorageContext&)> job) {
  QMetaObject::invokeMethod(worker_, [this, job = std::move(job)] { run(job); }, Qt::QueuedConnection);
}

void StorageWorker::run(const std::function<void(StorageContext&)>& job) {
  try {
    if (!stores_) stores_ = std::make_unique<Stores>(db_path_);
    StorageContext ctx{stores_->db, stores_->conversations, stores_->presets, stores_->settings};
    job(ctx);
  } catch (const std::exception& e) {
    emit failed(QString::fromStdString(e.what()));  // queued to GUI-thread receivers
  }
}

void StorageWorker::wait_for_idle() {
  std::promise<void> done;
  auto future = done.get_future();
  QMetaObject::invokeMethod(worker_, [&done] { done.set_value(); }, Qt::QueuedConnection);
  future.wait();
}

}  // namespace hearth
