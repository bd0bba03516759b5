#include "app/gui/message_stats.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <algorithm>

#include "core/engine/engine.h"

namespace hearth {

MessageStats stats_from_finish(const RequestEvent& finished, const std::string& device) {
  MessageStats s;
  s.ttft_ms = finished.timings.time_to_first_token_ms;
  s.tokens_per_second = finished.timings.decode_tokens_per_second;
  s.prompt_tokens = finished.usage.prompt_tokens;
  s.tokens = finished.usage.completion_tokens;
  s.truncated_tokens = finished.usage.truncated_tokens;
  s.cached_tokens = finished.usage.cached_tokens;
  s.restored_tokens = finished.usage.restored_tokens;
  s.device = device;
  s.finish_reason = finished.finish_reason;
  // Device energy the engine attributed to the request (NVML on a GPU; 0 where not measured).
  const double joules = finished.timings.energy_joules;
  if (joules > 0 && s.tokens > 0) s.joules_per_token = joules / static_cast<double>(s.tokens);
  return s;
}

std::string stats_to_json(const MessageStats& stats) {
  QJsonObject o;
  o["ttft_ms"] = stats.ttft_ms;
  o["tokens_per_second"] = stats.tokens_per_second;
  o["device"] = QString::fromStdString(stats.device);
  o["finish_reason"] = QString::fromStdString(stats.finish_reason);
  o["truncated_tokens"] = static_cast<double>(stats.truncated_tokens);
  o["cached_tokens"] = static_cast<double>(stats.cached_tokens);
  o["restored_tokens"] = static_cast<double>(stats.restored_tokens);
  if (stats.joules_per_token > 0) o["joules_per_token"] = stats.joules_per_token;
  return QJsonDocument(o).toJson(QJsonDocument::Compact).toStdString();
}

MessageStats stats_from_json(const std::string& json, int64_t prompt_tokens, int64_t completion_tokens) {
  MessageStats s;
  s.prompt_tokens = prompt_tokens;
  s.tokens = completion_tokens;
  const QJsonObject o = QJsonDocument::fromJson(QByteArray::fromStdString(json)).object();
  s.ttft_ms = o.value("ttft_ms").toDouble();
  s.tokens_per_second = o.value("tokens_per_second").toDouble();
  s.truncated_tokens = static_cast<int64_t>(o.value("truncated_tokens").toDouble());
  s.cached_tokens = static_cast<int64_t>(o.value("cached_tokens").toDouble());
  s.restored_tokens = static_cast<int64_t>(o.value("restored_tokens").toDouble());
  s.joules_per_token = std::max(0.0, o.value("joules_per_token").toDouble());
  s.device = o.value("device").toString().toStdString();
  s.finish_reason = o.value("finish_reason").toString().toStdString();
  return s;
}

}  // namespace hearth
