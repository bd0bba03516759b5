#include "app/gui/model_catalog.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLocale>
#include <QUrl>

#include "app/gui/download_policy.h"

namespace hearth {
namespace {

bool is_lower_sha256(const QString& s) {
  if (s.size() != 64) return false;
  for (QChar c : s) {
    if (!c.isDigit() && !(c >= QLatin1Char('a') && c <= QLatin1Char('f'))) return false;
  }
  return true;
}

// Empty when `entry` is usable, else why not.
QString check_entry(const CatalogEntry& entry) {
  if (entry.name.isEmpty()) return QStringLiteral("no name");
  if (!is_safe_model_file_name(entry.file)) return QStringLiteral("file '%1' is not a plain .gguf name").arg(entry.file);
  const QString url_error = check_download_url(QUrl(entry.url), DownloadPolicy{});
  if (!url_error.isEmpty()) return url_error;
  if (entry.size <= 0) return QStringLiteral("no size");
  if (!entry.sha256.isEmpty() && !is_lower_sha256(entry.sha256)) return QStringLiteral("sha256 is not 64 lower-case hex digits");
  return {};
}

}  // namespace

QVariantMap CatalogEntry::to_variant() const {
  return {{QStringLiteral("name"), name},
          {QStringLiteral("file"), file},
          {QStringLiteral("url"), url},
          {QStringLiteral("size"), static_cast<double>(size)},
          {QStringLiteral("sizeText"), QLocale::c().formattedDataSize(size)},
          {QStringLiteral("sha256"), sha256},
          {QStringLiteral("license"), license},
          {QStringLiteral("description"), description}};
}

ModelCatalog parse_model_catalog(const QByteArray& json) {
  ModelCatalog catalog;
  QJsonParseError parse_error;
  const QJsonDocument doc = QJsonDocument::fromJson(json, &parse_error);
  const QJsonValue models = doc.object().value(QStringLiteral("models"));
  if (!doc.isObject() || !models.isArray()) {
    catalog.errors << QStringLiteral("not a model catalog: %1")
                          .arg(parse_error.error != QJsonParseError::NoError ? parse_error.errorString()
                                                                              : QStringLiteral("no \"models\" array"));
    return catalog;
  }
  int index = 0;
  for (const QJsonValue& value : models.toArray()) {
    const QJsonObject o = value.toObject();
    CatalogEntry entry;
    entry.name = o.value(QStringLiteral("name")).toString();
    entry.file = o.value(QStringLiteral("file")).toString();
    entry.url = o.value(QStringLiteral("url")).toString();
    // JSON numbers are doubles: sizes up to 2^53 are exact, far beyond any model file.
    const double size = o.value(QStringLiteral("size")).toDouble(-1);
    entry.size = size > 0 && size < 9.0e15 ? static_cast<qint64>(size) : 0;
    entry.sha256 = o.value(QStringLiteral("sha256")).toString();
    entry.license = o.value(QStringLiteral("license")).toString();
    entry.description = o.value(QStringLiteral("description")).toString();
    const QString why = check_entry(entry);
    if (why.isEmpty()) {
      catalog.entries.push_back(std::move(entry));
    } else {
      catalog.errors << QStringLiteral("entry %1: %2").arg(index).arg(why);
    }
    ++index;
  }
  return catalog;
}

ModelCatalog bundled_model_catalog() {
  QFile file(QStringLiteral(":/catalog/models.json"));
  if (!file.open(QIODevice::ReadOnly)) {
    ModelCatalog catalog;
    catalog.errors << QStringLiteral("the bundled model catalog is missing");
    return catalog;
  }
  return parse_model_catalog(file.readAll());
}

}  // namespace hearth
