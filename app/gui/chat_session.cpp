#include "app/gui/chat_session.h"

#include <QPointer>
#include <algorithm>
#include <string>
#include <utility>

#include "app/gui/context_drop.h"
#include "app/gui/engine_host.h"
#include "app/gui/model_manager.h"
#include "app/gui/sampling_json.h"
#include "app/gui/settings_model.h"
#include "app/gui/storage_worker.h"

namespace hearth {

// One user turn or regeneration. Owned by the session while shown and by its engine handler
// until the reply is saved, so a turn left behind (another conversation opened) still saves.
struct ChatSession::Turn {
  int64_t conversation_id = 0;
  std::optional<int64_t> parent_id;  // of the reply: the user message
  int row = 0;                       // the reply's row in the model while shown
  std::vector<ChatMessage> history;  // what the engine gets
  std::vector<int> history_rows;     // the model row of each history message (-1: system prompt)
  uint64_t request_id = 0;
  bool submitted = false;
  bool stop_requested = false;
  QString text;                      // the reply so far
};

struct ChatSession::LoadedPath {
  uint64_t generation = 0;
  Conversation conversation;
  std::vector<ChatRow> rows;
};

namespace {

QString qstr(const std::string& s) { return QString::fromStdString(s); }

// The title of a conversation started by `text`: its first line, at most 48 characters.
QString title_from(const QString& text) {
  QString line = text.trimmed().section(QLatin1Char('\n'), 0, 0).trimmed();
  if (line.size() > 48) line = line.left(47) + QChar(0x2026);
  return line.isEmpty() ? QObject::tr("New chat") : line;
}

std::vector<int64_t> sibling_ids(ConversationStore& store, int64_t conversation_id, std::optional<int64_t> parent) {
  std::vector<int64_t> ids;
  for (const Message& m : store.children(conversation_id, parent)) ids.push_back(m.id);
  return ids;
}

}  // namespace

ChatSession::ChatSession(EngineHost& engine, StorageWorker& storage, SettingsModel& settings, ModelManager& models,
                         QObject* parent)
    : QObject(parent), engine_(engine), storage_(storage), settings_(settings), models_(models) {}

ChatSession::~ChatSession() {
  if (!turn_) return;
  if (turn_->submitted) engine_.cancel(turn_->request_id);
  // The app closes mid-reply: keep what streamed so far (the worker outlives this session and
  // runs what was posted before it stops). The engine's later events find no session.
  if (turn_->parent_id && !turn_->text.isEmpty()) {
    MessageStats stats;
    stats.finish_reason = "cancelled";
    stats.device = engine_.device().toStdString();
    NewMessage m;
    m.parent_id = turn_->parent_id;
    m.role = Role::Assistant;
    m.content = turn_->text.toStdString();
    m.timings_json = stats_to_json(stats);
    storage_.post([conv = turn_->conversation_id, m](StorageContext& s) { s.conversations.add_message(conv, m); });
  }
}

bool ChatSession::can_start() {
  if (turn_) return false;
  if (!models_.ready()) {
    set_error(models_.state() == QLatin1String("loading") ? tr("The model is still loading.") : tr("No model is loaded."));
    return false;
  }
  return true;
}

bool ChatSession::send(const QString& text) {
  std::optional<int64_t> parent;
  if (model_.rowCount() > 0) parent = model_.rows().back().message_id;
  return start_user_turn(model_.rowCount(), parent, text);
}

bool ChatSession::editMessage(int row, const QString& text) {
  if (row < 0 || row >= model_.rowCount() || model_.row(row).role != Role::User) return false;
  if (model_.row(row).message_id == 0) return false;
  return start_user_turn(row, model_.row(row).parent_id, text);
}

bool ChatSession::start_user_turn(int keep_rows, std::optional<int64_t> parent_id, const QString& text) {
  if (text.trimmed().isEmpty() || !can_start()) return false;
  if (parent_id && *parent_id == 0) parent_id.reset();  // the last row was never saved

  model_.truncate(keep_rows);
  auto turn = std::make_shared<Turn>();
  turn->conversation_id = conversation_id_;
  turn->history = history(keep_rows, &turn->history_rows);
  turn->history.push_back({"user", text.toStdString()});
  turn->history_rows.push_back(keep_rows);
  turn->row = keep_rows + 1;
  turn_ = turn;
  emit busyChanged();

  ChatRow user;
  user.role = Role::User;
  user.parent_id = parent_id;
  user.content = text;
  model_.append(std::move(user));
  ChatRow reply;
  reply.role = Role::Assistant;
  reply.streaming = true;
  model_.append(std::move(reply));

  struct Saved {
    int64_t conversation_id = 0;
    int64_t message_id = 0;
    std::vector<int64_t> siblings;
    std::string error;  // the save failed (the turn ends; nothing is generated)
  };
  const QString title = title_from(text);
  ConversationSettings conv_settings;
  conv_settings.model = models_.name().toStdString();
  conv_settings.system_prompt = system_prompt_.toStdString();
  conv_settings.sampling_json = sampling_json_;
  storage_.post(
      this,
      [conv = turn->conversation_id, parent_id, content = text.toStdString(), title = title.toStdString(),
       conv_settings](StorageContext& s) {
        try {
          const int64_t id = conv != 0 ? conv : s.conversations.create(title, conv_settings);
          NewMessage m;
          m.parent_id = parent_id;
          m.role = Role::User;
          m.content = content;
          const int64_t message_id = s.conversations.add_message(id, m);
          return Saved{id, message_id, sibling_ids(s.conversations, id, parent_id), {}};
        } catch (const std::exception& e) {
          return Saved{0, 0, {}, e.what()};
        }
      },
      [this, turn, title, keep_rows, text](Saved saved) {
        if (!saved.error.empty()) {
          if (turn == turn_) model_.truncate(keep_rows);
          emit sendFailed(text);  // back into the composer: not a word lost
          set_error(tr("Could not save the message: %1").arg(qstr(saved.error)));
          end_turn(turn, QStringLiteral("error"));
          return;
        }
        const bool shown = turn == turn_;
        turn->conversation_id = saved.conversation_id;
        turn->parent_id = saved.message_id;
        if (shown && conversation_id_ == 0) {
          conversation_id_ = saved.conversation_id;
          title_ = title;
          emit conversationChanged();
          remember_open();
        }
        if (shown && keep_rows + 1 < model_.rowCount()) {
          ChatRow user = model_.row(keep_rows);
          user.message_id = saved.message_id;
          user.sibling_ids = saved.siblings;
          model_.replace(keep_rows, std::move(user));
          ChatRow reply = model_.row(keep_rows + 1);
          reply.parent_id = saved.message_id;
          model_.replace(keep_rows + 1, std::move(reply));
        }
        emit conversationsTouched();
        submit_turn(turn);
      });
  return true;
}

bool ChatSession::regenerate(int row) {
  if (row < 0 || row >= model_.rowCount() || model_.row(row).role != Role::Assistant) return false;
  const ChatRow& old = model_.row(row);
  if (old.message_id == 0 || conversation_id_ == 0 || !can_start()) return false;

  auto turn = std::make_shared<Turn>();
  turn->conversation_id = conversation_id_;
  turn->parent_id = old.parent_id;
  turn->history = history(row, &turn->history_rows);
  turn->row = row;
  model_.truncate(row);
  ChatRow reply;
  reply.role = Role::Assistant;
  reply.parent_id = turn->parent_id;
  reply.streaming = true;
  model_.append(std::move(reply));
  turn_ = turn;
  emit busyChanged();
  submit_turn(turn);
  return true;
}

void ChatSession::submit_turn(const std::shared_ptr<Turn>& turn) {
  auto fail = [&](const QString& reason, const QString& message) {
    RequestEvent finished;
    finished.kind = RequestEvent::Kind::kFinished;
    finished.finish_reason = reason.toStdString();
    finished.error = message.toStdString();
    on_event(turn, finished);
  };
  if (turn->stop_requested) return fail(QStringLiteral("cancelled"), {});
  Request request;
  request.messages = turn->history;
  request.sampling = sampling_with_json(settings_.sampling(), sampling_json_);
  request.spec = settings_.spec_mode();
  request.max_tokens = std::max<int64_t>(1, settings_.max_tokens());
  request.overflow = settings_.overflow();
  request.cache_group = std::to_string(turn->conversation_id);
  QPointer<ChatSession> self(this);
  try {
    turn->request_id = engine_.submit(std::move(request), [self, turn](const RequestEvent& e) {
      if (self) self->on_event(turn, e);
    });
  } catch (const std::exception& e) {
    return fail(QStringLiteral("error"), QString::fromStdString(e.what()));
  }
  turn->submitted = true;
  emit generationSubmitted();
}

void ChatSession::stop() {
  if (!turn_ || turn_->stop_requested) return;
  turn_->stop_requested = true;
  if (turn_->submitted) engine_.cancel(turn_->request_id);
}

void ChatSession::on_event(const std::shared_ptr<Turn>& turn, const RequestEvent& event) {
  const bool shown = turn == turn_;
  if (event.kind == RequestEvent::Kind::kDelta) {
    const QString text = QString::fromStdString(event.text);
    turn->text += text;
    if (shown) model_.append_text(turn->row, text);
    return;
  }
  if (event.kind != RequestEvent::Kind::kFinished) return;

  const QString reason = qstr(event.finish_reason);
  const MessageStats stats = stats_from_finish(event, engine_.device().toStdString());
  if (turn->text.isEmpty() && (reason == QLatin1String("error") || reason == QLatin1String("cancelled"))) {
    // Nothing to keep: the reply row goes; an error is shown in the banner.
    if (shown) model_.truncate(turn->row);
    if (reason == QLatin1String("error")) set_error(tr("Generation failed: %1").arg(qstr(event.error)));
    end_turn(turn, reason);
    return;
  }
  if (shown) {
    // Context full: the messages the engine left out are marked (the system prompt never is).
    std::vector<int> dropped_rows;
    for (int i : dropped_message_indices(turn->history, event.usage)) {
      const int row = turn->history_rows.at(static_cast<size_t>(i));
      if (row >= 0) dropped_rows.push_back(row);
    }
    model_.set_dropped(dropped_rows);
  }
  if (shown && turn->row < model_.rowCount()) {
    ChatRow reply = model_.row(turn->row);
    reply.streaming = false;
    reply.stats = stats;
    if (reason == QLatin1String("error")) reply.error = qstr(event.error);
    model_.replace(turn->row, std::move(reply));
  }

  struct Saved {
    int64_t message_id = 0;
    std::vector<int64_t> siblings;
    std::string error;
  };
  NewMessage m;
  m.parent_id = turn->parent_id;
  m.role = Role::Assistant;
  m.content = turn->text.toStdString();
  m.prompt_tokens = stats.prompt_tokens;
  m.completion_tokens = stats.tokens;
  m.timings_json = stats_to_json(stats);
  storage_.post(
      this,
      [conv = turn->conversation_id, m](StorageContext& s) {
        try {
          const int64_t id = s.conversations.add_message(conv, m);
          return Saved{id, sibling_ids(s.conversations, conv, m.parent_id), {}};
        } catch (const std::exception& e) {
          return Saved{0, {}, e.what()};
        }
      },
      [this, turn, reason](Saved saved) {
        if (!saved.error.empty()) {
          // The reply stays on screen (copyable), but could not be kept.
          set_error(tr("Could not save the reply: %1").arg(qstr(saved.error)));
          end_turn(turn, QStringLiteral("error"));
          return;
        }
        if (turn == turn_ && turn->row < model_.rowCount()) {
          ChatRow reply = model_.row(turn->row);
          reply.message_id = saved.message_id;
          reply.sibling_ids = saved.siblings;
          model_.replace(turn->row, std::move(reply));
        }
        emit conversationsTouched();
        end_turn(turn, reason);
      });
}

void ChatSession::end_turn(const std::shared_ptr<Turn>& turn, const QString& finish_reason) {
  if (turn != turn_) return;  // a turn left behind finished saving
  turn_.reset();
  emit busyChanged();
  emit turnFinished(finish_reason);
}

std::vector<ChatMessage> ChatSession::history(int rows, std::vector<int>* row_of) const {
  std::vector<ChatMessage> out;
  std::vector<int> rows_out;
  if (!system_prompt_.trimmed().isEmpty()) {
    out.push_back({"system", system_prompt_.toStdString()});
    rows_out.push_back(-1);
  }
  for (int i = 0; i < rows && i < model_.rowCount(); ++i) {
    const ChatRow& r = model_.row(i);
    if (r.role == Role::System) continue;  // the conversation's system prompt stands for it
    out.push_back({std::string(role_name(r.role)), r.content.toStdString()});
    rows_out.push_back(i);
  }
  if (row_of) *row_of = std::move(rows_out);
  return out;
}

void ChatSession::switchBranch(int row, int step) {
  if (turn_ || row < 0 || row >= model_.rowCount()) return;
  const ChatRow& r = model_.row(row);
  auto it = std::find(r.sibling_ids.begin(), r.sibling_ids.end(), r.message_id);
  if (it == r.sibling_ids.end()) return;
  const auto at = (it - r.sibling_ids.begin()) + step;
  if (at < 0 || at >= static_cast<std::ptrdiff_t>(r.sibling_ids.size())) return;
  const int64_t target = r.sibling_ids[static_cast<size_t>(at)];
  const int64_t conv = conversation_id_;
  storage_.post(
      this, [target](StorageContext& s) { s.conversations.select_branch(target); },
      [this, conv] {
        if (conv == conversation_id_) load_path(conv);
      });
}

void ChatSession::open(qint64 conversation_id) {
  if (turn_) {
    stop();
    turn_.reset();  // it still saves what it has, into its own conversation
    emit busyChanged();
  }
  load_path(conversation_id);
}

void ChatSession::load_path(int64_t conversation_id) {
  const uint64_t generation = ++path_generation_;
  storage_.post(
      this,
      [conversation_id, generation](StorageContext& s) {
        LoadedPath path;
        path.generation = generation;
        auto conv = s.conversations.get(conversation_id);
        if (!conv || conv->deleted_at_ms) throw Error("conversation " + std::to_string(conversation_id) + " is gone");
        path.conversation = *conv;
        for (const Message& m : s.conversations.active_path(conversation_id)) {
          ChatRow row;
          row.message_id = m.id;
          row.parent_id = m.parent_id;
          row.role = m.role;
          row.content = QString::fromStdString(m.content);
          row.stats = stats_from_json(m.timings_json, m.prompt_tokens, m.completion_tokens);
          row.sibling_ids = sibling_ids(s.conversations, conversation_id, m.parent_id);
          path.rows.push_back(std::move(row));
        }
        return path;
      },
      [this](LoadedPath path) { apply_path(std::move(path)); });
}

void ChatSession::apply_path(LoadedPath path) {
  if (path.generation != path_generation_ || turn_) return;
  const bool other = conversation_id_ != path.conversation.id;
  conversation_id_ = path.conversation.id;
  title_ = qstr(path.conversation.title);
  system_prompt_ = qstr(path.conversation.settings.system_prompt);
  sampling_json_ = path.conversation.settings.sampling_json;
  model_.reset(std::move(path.rows));
  emit conversationChanged();
  if (other) remember_open();
  emit pathLoaded();
}

void ChatSession::newConversation() {
  if (turn_) {
    stop();
    turn_.reset();
    emit busyChanged();
  }
  ++path_generation_;
  conversation_id_ = 0;
  title_.clear();
  system_prompt_.clear();
  sampling_json_ = "{}";
  model_.reset({});
  emit conversationChanged();
}

void ChatSession::forget(qint64 conversation_id) {
  if (conversation_id == conversation_id_) newConversation();
}

void ChatSession::setSystemPrompt(const QString& prompt) {
  if (prompt == system_prompt_) return;
  system_prompt_ = prompt;
  emit conversationChanged();
  save_conversation_settings();
}

QString ChatSession::preset_name() const { return QString::fromStdString(preset_name_of(sampling_json_)); }

void ChatSession::apply_preset(const Preset& preset) {
  system_prompt_ = QString::fromStdString(preset.system_prompt);
  sampling_json_ = sampling_to_json(sampling_with_json({}, preset.sampling_json), preset.name);
  emit conversationChanged();
  save_conversation_settings();
}

void ChatSession::clearPreset() {
  if (sampling_json_ == "{}") return;
  sampling_json_ = "{}";
  emit conversationChanged();
  save_conversation_settings();
}

void ChatSession::save_conversation_settings() {
  if (conversation_id_ == 0) return;  // saved with the conversation when it is created
  storage_.post([conv = conversation_id_, prompt = system_prompt_.toStdString(), sampling = sampling_json_](StorageContext& s) {
    auto c = s.conversations.get(conv);
    if (!c) return;
    ConversationSettings settings = c->settings;
    settings.system_prompt = prompt;
    settings.sampling_json = sampling;
    s.conversations.update_settings(conv, settings);
  });
}

void ChatSession::remember_open() {
  storage_.post([conv = conversation_id_](StorageContext& s) {
    s.settings.set("gui.last_conversation", std::to_string(conv));
  });
}

void ChatSession::restore_last() {
  storage_.post(
      this,
      [](StorageContext& s) -> int64_t {
        const auto value = s.settings.get("gui.last_conversation");
        if (!value) return 0;
        int64_t id = 0;
        try {
          id = std::stoll(*value);
        } catch (const std::exception&) {
          return 0;
        }
        auto conv = s.conversations.get(id);
        return conv && !conv->deleted_at_ms ? id : 0;
      },
      [this](int64_t id) {
        if (id != 0 && conversation_id_ == 0 && model_.rowCount() == 0) load_path(id);
      });
}

void ChatSession::clearError() { set_error({}); }

void ChatSession::set_error(const QString& error) {
  if (error == error_) return;
  error_ = error;
  emit errorChanged();
}

}  // namespace hearth
