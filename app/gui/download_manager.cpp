#include "app/gui/download_manager.h"

#include <QDir>
#include <QFileInfo>
#include <QQmlEngine>
#include <QUrl>
#include <utility>

#include "app/gui/download_transfer.h"
#include "hearth/version.h"

namespace hearth {
namespace {

bool is_sha256_text(const QString& s) {
  if (s.size() != 64) return false;
  for (QChar c : s) {
    if (!c.isDigit() && !(c.toLower() >= QLatin1Char('a') && c.toLower() <= QLatin1Char('f'))) return false;
  }
  return true;
}

}  // namespace

DownloadManager::DownloadManager(QString models_dir, DownloadPolicy policy, ModelCatalog catalog, QObject* parent)
    : QObject(parent), models_dir_(std::move(models_dir)), policy_(policy), catalog_(std::move(catalog)) {
  thread_.setObjectName(QStringLiteral("hearth-downloads"));
  thread_.start();
}

DownloadManager::~DownloadManager() {
  // Each job hands its transfer to deleteLater() on the download thread; a finishing QThread
  // still runs those deferred deletes, so every transfer (and its reply) ends there.
  qDeleteAll(std::exchange(jobs_, {}));
  thread_.quit();
  thread_.wait();
}

QVariantList DownloadManager::catalog() const {
  QVariantList out;
  for (const CatalogEntry& e : catalog_.entries) out << e.to_variant();
  return out;
}

QList<QObject*> DownloadManager::jobs() const {
  QList<QObject*> out;
  for (DownloadJob* job : jobs_) out << job;
  return out;
}

DownloadJob* DownloadManager::refuse(const QString& why) {
  error_ = why;
  emit errorChanged();
  return nullptr;
}

QString DownloadManager::fileNameForUrl(const QString& url) const { return model_file_name_from_url(QUrl(url)); }

bool DownloadManager::isInstalled(const QString& file_name) const {
  return is_safe_model_file_name(file_name) && QFileInfo::exists(pathOf(file_name));
}

QString DownloadManager::pathOf(const QString& file_name) const { return QDir(models_dir_).filePath(file_name); }

DownloadJob* DownloadManager::downloadUrl(const QString& url_text, const QString& sha256, bool overwrite) {
  const QUrl url = QUrl::fromUserInput(url_text.trimmed());
  const QString url_error = check_download_url(url, policy_);
  if (!url_error.isEmpty()) return refuse(url_error);
  QString why;
  const QString name = model_file_name_from_url(url, &why);
  if (name.isEmpty()) return refuse(why);
  const QString hash = sha256.trimmed().toLower();
  if (!hash.isEmpty() && !is_sha256_text(hash)) return refuse(tr("the SHA-256 must be 64 hex digits"));
  return start(name, url, hash, overwrite);
}

DownloadJob* DownloadManager::downloadCatalogEntry(int index, bool overwrite) {
  if (index < 0 || static_cast<size_t>(index) >= catalog_.entries.size()) return refuse(tr("no such catalog entry"));
  const CatalogEntry& e = catalog_.entries[static_cast<size_t>(index)];
  return start(e.file, QUrl(e.url), e.sha256, overwrite);
}

DownloadJob* DownloadManager::start(const QString& file_name, const QUrl& url, const QString& sha256, bool overwrite) {
  if (DownloadJob* running = jobFor(file_name); running && running->active()) {
    return refuse(tr("%1 is already being downloaded").arg(file_name));
  }
  if (!overwrite && QFileInfo::exists(pathOf(file_name))) {
    return refuse(tr("%1 is already in the models folder").arg(file_name));
  }
  if (!QDir().mkpath(models_dir_)) return refuse(tr("cannot create the models folder %1").arg(models_dir_));
  DownloadRequest request;
  request.url = url;
  request.final_path = pathOf(file_name);
  request.part_path = request.final_path + QStringLiteral(".part");
  request.expected_sha256 = sha256;
  request.overwrite = overwrite;
  request.policy = policy_;
  request.user_agent = QByteArray("Hearth/") + kVersion;
  auto* transfer = new DownloadTransfer(std::move(request));
  transfer->moveToThread(&thread_);
  auto* job = new DownloadJob(file_name, url.toDisplayString(QUrl::RemoveUserInfo), transfer, this);
  QQmlEngine::setObjectOwnership(job, QQmlEngine::CppOwnership);  // owned here, not by QML's GC
  connect(job, &DownloadJob::finished, this, [this, job](bool ok) {
    if (!ok) return;
    ++installed_revision_;
    emit installedChanged();
    emit downloaded(job->path());
  });
  jobs_ << job;
  error_.clear();
  emit errorChanged();
  emit jobsChanged();
  return job;
}

DownloadJob* DownloadManager::jobFor(const QString& file_name) const {
  for (auto it = jobs_.rbegin(); it != jobs_.rend(); ++it) {
    if ((*it)->file_name() == file_name) return *it;
  }
  return nullptr;
}

void DownloadManager::removeJob(DownloadJob* job) {
  if (!job || job->active() || !jobs_.removeOne(job)) return;
  emit jobsChanged();
  job->deleteLater();
}

}  // namespace hearth
