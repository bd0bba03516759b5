#pragma once
// The curated catalog of well-known GGUF files the Models dialog offers for download
// (resources/catalog/models.json, served at qrc:/catalog/models.json).
//
// JSON: {"version": 1, "models": [{"name", "file", "url", "size", "sha256", "license",
// "description"}...]}. `file` is the name the download gets (never the server's); `url` must be
// https; `size` is the expected size in bytes (shown before downloading; the server's
// Content-Length decides); `sha256` is 64 lower-case hex digits, or "" when it could not be
// verified offline (then the server's X-Linked-Etag is used, see download_transfer.h).
#include <QByteArray>
#include <QString>
#include <QStringList>
#include <QVariantMap>
#include <vector>

namespace hearth {

struct CatalogEntry {
  QString name;         // "Qwen2.5 0.5B Instruct (Q4_K_M)"
  QString file;         // "qwen2.5-0.5b-instruct-q4_k_m.gguf"
  QString url;          // https://huggingface.co/<repo>/resolve/main/<file>
  qint64 size = 0;      // bytes, approximate when not verified
  QString sha256;       // "" when not known
  QString license;
  QString description;

  QVariantMap to_variant() const;
};

struct ModelCatalog {
  std::vector<CatalogEntry> entries;
  QStringList errors;  // entries left out and why ("entry 2: url must be https")
};

// Entries that fail validation are left out (and listed in `errors`); a document that is not
// a catalog gives no entries and one error.
ModelCatalog parse_model_catalog(const QByteArray& json);

// The catalog shipped with the app (qrc:/catalog/models.json).
ModelCatalog bundled_model_catalog();

}  // namespace hearth
