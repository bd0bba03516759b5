#pragma once
// PresetListModel: the named presets (system prompt + sampling settings, storage/preset_store)
// for QML. Apply gives the shown conversation the preset's system prompt and sampling (kept with
// the conversation); saveCurrent stores the conversation's system prompt and the sampling in
// effect under a name; remove deletes one. Storage runs on the worker; the list refreshes after
// each change.
#include <QtQml/qqmlregistration.h>

#include <QAbstractListModel>
#include <QString>
#include <vector>

#include "storage/conversation_types.h"

namespace hearth {

class ChatSession;
class SettingsModel;
class StorageWorker;

class PresetListModel : public QAbstractListModel {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("PresetListModel is created by the app")
  Q_PROPERTY(int count READ rowCount NOTIFY countChanged)
  Q_PROPERTY(QString error READ error NOTIFY errorChanged)

 public:
  enum Roles { NameRole = Qt::UserRole + 1, SystemPromptRole, SamplingJsonRole };

  PresetListModel(StorageWorker& storage, SettingsModel& settings, ChatSession& chat, QObject* parent = nullptr);

  int rowCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QHash<int, QByteArray> roleNames() const override;

  QString error() const { return error_; }

  Q_INVOKABLE void refresh();
  Q_INVOKABLE void saveCurrent(const QString& name);
  Q_INVOKABLE void apply(const QString& name);  // to the conversation shown
  Q_INVOKABLE void remove(const QString& name);
  Q_INVOKABLE QString nameAt(int i) const;
  Q_INVOKABLE int indexOf(const QString& name) const;  // -1 when absent

 signals:
  void countChanged();
  void errorChanged();
  void refreshed();  // the list was re-read (after a change too)
  void applied(const QString& name);

 private:
  void set_error(const QString& error);

  StorageWorker& storage_;
  SettingsModel& settings_;
  ChatSession& chat_;
  std::vector<Preset> presets_;
  QString error_;
};

}  // namespace hearth
