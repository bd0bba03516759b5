#pragma once
// What a model download may be called and where it may come from. The file name is never taken
// from the server (no Content-Disposition, no redirect target): it comes from the catalog or from
// the last path segment of the URL the user gave, and must be a plain "<name>.gguf".
#include <QString>
#include <QUrl>
#include <cstdint>

namespace hearth {

struct DownloadPolicy {
  // Plain http is refused (also as a redirect target) except to localhost when this is set: the
  // tests serve files from a local HTTP server.
  bool allow_http_localhost = false;
  uint64_t max_bytes = 256ull << 30;  // refuse larger files (Content-Length or bytes received)
  int max_redirects = 8;
};

// An empty string when `url` may be fetched under `policy`, else why not ("only https ...").
QString check_download_url(const QUrl& url, const DownloadPolicy& policy);

// True for a name that is safe to create in the models folder: 1..200 characters of
// [A-Za-z0-9._+-], not starting with '.', ending in ".gguf" (any case).
bool is_safe_model_file_name(const QString& name);

// The file name for a download of `url`: its last path segment, percent-decoded, with every
// character outside [A-Za-z0-9._+-] replaced by '_' and leading dots dropped. Empty (and `why`
// set) when nothing usable is left or it does not end in ".gguf".
QString model_file_name_from_url(const QUrl& url, QString* why = nullptr);

}  // namespace hearth
