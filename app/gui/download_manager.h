#pragma once
// DownloadManager: model downloads for the Models dialog. Owns the download thread (where every
// DownloadTransfer does its network and disk work), the jobs QML shows, and the curated catalog.
// Files land in `models_dir` under a name from the catalog or from the URL (download_policy.h),
// never one the server chose; an existing file is only replaced when the caller says so.
#include <QtQml/qqmlregistration.h>

#include <QList>
#include <QObject>
#include <QString>
#include <QThread>
#include <QUrl>
#include <QVariantList>

#include "app/gui/download_job.h"
#include "app/gui/download_policy.h"
#include "app/gui/model_catalog.h"

namespace hearth {

class DownloadManager : public QObject {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("DownloadManager is created by the app")
  Q_PROPERTY(QString modelsDir READ models_dir CONSTANT)
  Q_PROPERTY(QUrl modelsDirUrl READ models_dir_url CONSTANT)    // for FileDialog.currentFolder
  // Changes whenever a download lands in the models folder (re-evaluates isInstalled() bindings).
  Q_PROPERTY(int installedRevision READ installed_revision NOTIFY installedChanged)
  Q_PROPERTY(QVariantList catalog READ catalog CONSTANT)        // CatalogEntry::to_variant()
  Q_PROPERTY(QList<QObject*> jobs READ jobs NOTIFY jobsChanged)  // DownloadJob, newest last
  Q_PROPERTY(QString error READ error NOTIFY errorChanged)       // why the last request was refused

 public:
  DownloadManager(QString models_dir, DownloadPolicy policy, ModelCatalog catalog, QObject* parent = nullptr);
  ~DownloadManager() override;

  // Starts downloading `url` (https) into the models folder; `sha256` (optional, hex) must then
  // match. Returns the job, or null with `error` set (bad URL, not a .gguf name, the file exists
  // and `overwrite` is false, already downloading).
  Q_INVOKABLE hearth::DownloadJob* downloadUrl(const QString& url, const QString& sha256 = {}, bool overwrite = false);
  // The same for catalog entry `index`, with its file name and hash.
  Q_INVOKABLE hearth::DownloadJob* downloadCatalogEntry(int index, bool overwrite = false);
  // The newest job for `file_name` (null when none).
  Q_INVOKABLE hearth::DownloadJob* jobFor(const QString& file_name) const;
  // Drops a finished (done, failed, cancelled) job from the list.
  Q_INVOKABLE void removeJob(hearth::DownloadJob* job);
  // The name a download of `url` would get ("" when it has none), and whether it is present.
  Q_INVOKABLE QString fileNameForUrl(const QString& url) const;
  Q_INVOKABLE bool isInstalled(const QString& file_name) const;
  Q_INVOKABLE QString pathOf(const QString& file_name) const;

  QString models_dir() const { return models_dir_; }
  QUrl models_dir_url() const { return QUrl::fromLocalFile(models_dir_); }
  int installed_revision() const { return installed_revision_; }
  QVariantList catalog() const;
  QList<QObject*> jobs() const;
  QString error() const { return error_; }

 signals:
  void jobsChanged();
  void errorChanged();
  void installedChanged();
  void downloaded(const QString& path);  // a job finished and its file is in the models folder

 private:
  DownloadJob* start(const QString& file_name, const QUrl& url, const QString& sha256, bool overwrite);
  DownloadJob* refuse(const QString& why);

  QString models_dir_;
  DownloadPolicy policy_;
  ModelCatalog catalog_;
  QString error_;
  int installed_revision_ = 0;
  QList<DownloadJob*> jobs_;  // owned (children)
  QThread thread_;            // runs the transfers
};

}  // namespace hearth
