#pragma once
// ChatSession: the conversation shown and its turns. A turn is: save the user message (worker),
// submit the chat to the engine, stream the reply into the last row, save the reply. Edit and
// regenerate start a turn on a new branch (a sibling of the edited / regenerated message);
// switchBranch shows another sibling's branch. The GUI thread only posts work and applies
// results: storage goes through StorageWorker, generation through EngineHost.
#include <QtQml/qqmlregistration.h>

#include <QObject>
#include <QString>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "app/gui/chat_model.h"
#include "core/engine/engine.h"

namespace hearth {

class EngineHost;
class ModelManager;
class SettingsModel;
class StorageWorker;

class ChatSession : public QObject {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("ChatSession is created by the app")
  Q_PROPERTY(ChatModel* messages READ messages CONSTANT)
  Q_PROPERTY(qint64 conversationId READ conversation_id NOTIFY conversationChanged)
  Q_PROPERTY(QString title READ title NOTIFY conversationChanged)
  Q_PROPERTY(QString systemPrompt READ system_prompt WRITE setSystemPrompt NOTIFY conversationChanged)
  // The preset given to this conversation (its sampling overrides the settings); empty: none.
  Q_PROPERTY(QString presetName READ preset_name NOTIFY conversationChanged)
  Q_PROPERTY(bool busy READ busy NOTIFY busyChanged)  // a turn is running (saving, streaming)
  Q_PROPERTY(QString error READ error NOTIFY errorChanged)

 public:
  ChatSession(EngineHost& engine, StorageWorker& storage, SettingsModel& settings, ModelManager& models,
              QObject* parent = nullptr);
  ~ChatSession() override;

  ChatModel* messages() { return &model_; }
  qint64 conversation_id() const { return conversation_id_; }
  QString title() const { return title_; }
  QString system_prompt() const { return system_prompt_; }
  QString preset_name() const;
  // The conversation's sampling overrides (sampling_json.h); "{}" when it has none.
  const std::string& sampling_json() const { return sampling_json_; }
  // Gives the conversation shown the preset's system prompt and sampling (saved with it).
  void apply_preset(const Preset& preset);
  bool busy() const { return turn_ != nullptr; }
  QString error() const { return error_; }

  // Each returns false (and sets error when it is the user's business) when it cannot start.
  Q_INVOKABLE bool send(const QString& text);
  Q_INVOKABLE bool regenerate(int row);                      // row: an assistant message
  Q_INVOKABLE bool editMessage(int row, const QString& text);  // row: a user message
  Q_INVOKABLE void stop();
  Q_INVOKABLE void switchBranch(int row, int step);          // step -1: previous sibling, +1: next
  Q_INVOKABLE void open(qint64 conversation_id);
  Q_INVOKABLE void newConversation();
  Q_INVOKABLE void clearError();
  Q_INVOKABLE void clearPreset();  // back to the settings' sampling (the system prompt stays)
  void setSystemPrompt(const QString& prompt);

  // Opens the conversation shown when the app last closed (settings "gui.last_conversation").
  void restore_last();
  // The conversation was deleted elsewhere (sidebar): leave it if it is shown.
  void forget(qint64 conversation_id);

 signals:
  void conversationChanged();
  void busyChanged();
  void errorChanged();
  void generationSubmitted();                      // the request is in the engine
  void turnFinished(const QString& finish_reason);  // the reply is saved (or the turn failed)
  void pathLoaded();                               // rows replaced from the database
  void conversationsTouched();                     // the sidebar's list changed
  void sendFailed(const QString& text);            // the message could not be saved; its text

 private:
  struct Turn;
  struct LoadedPath;

  bool start_user_turn(int keep_rows, std::optional<int64_t> parent_id, const QString& text);
  void submit_turn(const std::shared_ptr<Turn>& turn);
  void on_event(const std::shared_ptr<Turn>& turn, const RequestEvent& event);
  void end_turn(const std::shared_ptr<Turn>& turn, const QString& finish_reason);
  // System prompt + rows [0, rows); row_of (optional) gets each message's row (-1: the prompt).
  std::vector<ChatMessage> history(int rows, std::vector<int>* row_of = nullptr) const;
  void save_conversation_settings();
  bool can_start();
  void set_error(const QString& error);
  void load_path(int64_t conversation_id);
  void apply_path(LoadedPath path);
  void remember_open();

  EngineHost& engine_;
  StorageWorker& storage_;
  SettingsModel& settings_;
  ModelManager& models_;
  ChatModel model_;
  int64_t conversation_id_ = 0;  // 0: a new chat, created in the database by its first message
  QString title_;
  QString system_prompt_;
  std::string sampling_json_ = "{}";
  QString error_;
  std::shared_ptr<Turn> turn_;   // the turn shown; null when idle
  uint64_t path_generation_ = 0; // a newer open/switch makes an older load stale
};

}  // namespace hearth
