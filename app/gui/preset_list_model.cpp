#include "app/gui/preset_list_model.h"

#include <optional>
#include <string>

#include "app/gui/chat_session.h"
#include "app/gui/sampling_json.h"
#include "app/gui/settings_model.h"
#include "app/gui/storage_worker.h"

namespace hearth {

PresetListModel::PresetListModel(StorageWorker& storage, SettingsModel& settings, ChatSession& chat, QObject* parent)
    : QAbstractListModel(parent), storage_(storage), settings_(settings), chat_(chat) {}

int PresetListModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(presets_.size());
}

QVariant PresetListModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() < 0 || index.row() >= rowCount()) return {};
  const Preset& p = presets_[static_cast<size_t>(index.row())];
  switch (role) {
    case NameRole: return QString::fromStdString(p.name);
    case SystemPromptRole: return QString::fromStdString(p.system_prompt);
    case SamplingJsonRole: return QString::fromStdString(p.sampling_json);
    default: return {};
  }
}

QHash<int, QByteArray> PresetListModel::roleNames() const {
  return {{NameRole, "name"}, {SystemPromptRole, "systemPrompt"}, {SamplingJsonRole, "samplingJson"}};
}

void PresetListModel::refresh() {
  storage_.post(this, [](StorageContext& s) { return s.presets.list(); },
                [this](std::vector<Preset> list) {
                  beginResetModel();
                  presets_ = std::move(list);
                  endResetModel();
                  emit countChanged();
                  emit refreshed();
                });
}

void PresetListModel::saveCurrent(const QString& name) {
  const QString trimmed = name.trimmed();
  if (trimmed.isEmpty()) return set_error(tr("A preset needs a name."));
  Preset preset;
  preset.name = trimmed.toStdString();
  preset.system_prompt = chat_.system_prompt().toStdString();
  // The sampling in effect for this conversation: the settings, with its own overrides.
  const SamplingParams effective = sampling_with_json(sampling_with_json({}, settings_.sampling_json()), chat_.sampling_json());
  preset.sampling_json = sampling_to_json(effective);
  storage_.post(
      this,
      [preset](StorageContext& s) -> std::string {
        try {
          s.presets.put(preset);
          return {};
        } catch (const std::exception& e) {
          return e.what();
        }
      },
      [this](std::string error) {
        set_error(error.empty() ? QString() : tr("Could not save the preset: %1").arg(QString::fromStdString(error)));
        refresh();
      });
}

void PresetListModel::apply(const QString& name) {
  storage_.post(
      this, [name = name.toStdString()](StorageContext& s) { return s.presets.get(name); },
      [this, name](std::optional<Preset> preset) {
        if (!preset) return set_error(tr("There is no preset named %1.").arg(name));
        set_error({});
        chat_.apply_preset(*preset);
        emit applied(name);
      });
}

void PresetListModel::remove(const QString& name) {
  storage_.post(
      this, [name = name.toStdString()](StorageContext& s) { s.presets.remove(name); }, [this] { refresh(); });
}

QString PresetListModel::nameAt(int i) const {
  return i >= 0 && i < rowCount() ? QString::fromStdString(presets_[static_cast<size_t>(i)].name) : QString();
}

int PresetListModel::indexOf(const QString& name) const {
  for (int i = 0; i < rowCount(); ++i) {
    if (nameAt(i) == name) return i;
  }
  return -1;
}

void PresetListModel::set_error(const QString& error) {
  if (error == error_) return;
  error_ = error;
  emit errorChanged();
}

}  // namespace hearth
