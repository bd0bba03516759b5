#include "app/gui/download_policy.h"

#include <QHostAddress>

namespace hearth {
namespace {

constexpr int kMaxNameLength = 200;

bool is_name_char(QChar c) {
  const char16_t u = c.unicode();
  return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '.' || u == '_' ||
         u == '-' || u == '+';
}

bool is_localhost(const QUrl& url) {
  const QString host = url.host().toLower();
  if (host == QLatin1String("localhost")) return true;
  const QHostAddress address(host);
  return !address.isNull() && address.isLoopback();
}

}  // namespace

QString check_download_url(const QUrl& url, const DownloadPolicy& policy) {
  if (!url.isValid() || url.host().isEmpty()) return QStringLiteral("not a valid URL: %1").arg(url.toDisplayString());
  const QString scheme = url.scheme().toLower();
  if (scheme == QLatin1String("https")) return {};
  if (scheme == QLatin1String("http") && policy.allow_http_localhost && is_localhost(url)) return {};
  return QStringLiteral("only https URLs are allowed (refused %1)").arg(url.toDisplayString(QUrl::RemoveUserInfo));
}

bool is_safe_model_file_name(const QString& name) {
  if (name.isEmpty() || name.size() > kMaxNameLength || name.startsWith(QLatin1Char('.'))) return false;
  for (QChar c : name) {
    if (!is_name_char(c)) return false;
  }
  return name.endsWith(QLatin1String(".gguf"), Qt::CaseInsensitive) && name.size() > 5;
}

QString model_file_name_from_url(const QUrl& url, QString* why) {
  // The path is decoded first, so "%2F.." cannot hide a separator; then only the last segment
  // counts ("a/../b.gguf" -> "b.gguf", "../../x.gguf" -> "x.gguf").
  const QString path = url.path(QUrl::FullyDecoded);
  QString segment = path.mid(path.lastIndexOf(QLatin1Char('/')) + 1);
  segment = segment.mid(segment.lastIndexOf(QLatin1Char('\\')) + 1);
  QString name;
  for (QChar c : segment) name += is_name_char(c) ? c : QLatin1Char('_');
  while (name.startsWith(QLatin1Char('.'))) name.remove(0, 1);
  if (name.size() > kMaxNameLength) name = name.right(kMaxNameLength);  // keeps the extension
  if (!is_safe_model_file_name(name)) {
    if (why) *why = QStringLiteral("the URL does not name a .gguf file: %1").arg(url.toDisplayString(QUrl::RemoveUserInfo));
    return {};
  }
  return name;
}

}  // namespace hearth
