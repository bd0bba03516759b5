#include "app/gui/sampling_json.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <algorithm>

namespace hearth {
namespace {

QJsonObject parse_object(const std::string& json) {
  return QJsonDocument::fromJson(QByteArray::fromStdString(json)).object();  // {} when malformed
}

}  // namespace

std::string sampling_to_json(const SamplingParams& p, const std::string& preset_name) {
  QJsonObject o;
  o["temperature"] = static_cast<double>(p.temperature);
  o["top_k"] = p.top_k;
  o["top_p"] = static_cast<double>(p.top_p);
  o["min_p"] = static_cast<double>(p.min_p);
  o["repeat_penalty"] = static_cast<double>(p.repeat_penalty);
  o["seed"] = static_cast<double>(p.seed);
  if (!preset_name.empty()) o["preset"] = QString::fromStdString(preset_name);
  return QJsonDocument(o).toJson(QJsonDocument::Compact).toStdString();
}

SamplingParams sampling_with_json(SamplingParams p, const std::string& json) {
  const QJsonObject o = parse_object(json);
  // Clamped to what the sampler accepts, so a hand-edited preset cannot break a request.
  auto number = [&](const char* key, double lo, double hi, auto& into) {
    const QJsonValue v = o.value(QLatin1String(key));
    if (!v.isDouble()) return;
    using T = std::remove_reference_t<decltype(into)>;
    into = static_cast<T>(std::clamp(v.toDouble(), lo, hi));
  };
  number("temperature", 0.0, 5.0, p.temperature);
  number("top_k", 0.0, 1e6, p.top_k);
  number("top_p", 0.0, 1.0, p.top_p);
  number("min_p", 0.0, 1.0, p.min_p);
  number("repeat_penalty", 0.1, 5.0, p.repeat_penalty);
  // 0 means "a new seed per request": the base (already drawn) seed stays.
  if (o.value(QLatin1String("seed")).toDouble() >= 1) number("seed", 1.0, 9007199254740992.0, p.seed);
  return p;
}

std::string preset_name_of(const std::string& json) {
  return parse_object(json).value(QLatin1String("preset")).toString().toStdString();
}

}  // namespace hearth
