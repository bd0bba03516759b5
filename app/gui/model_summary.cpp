#include "app/gui/model_summary.h"

#include <exception>

#include "core/gguf/gguf_file.h"
#include "core/model/model_info.h"

namespace hearth {
namespace {

// 15200000 -> "15.2M"
QString short_count(double n, const char* const* units, double step) {
  int unit = 0;
  while (n >= step && units[unit + 1] != nullptr) {
    n /= step;
    ++unit;
  }
  return QString::number(n, 'f', n < 10 && unit > 0 ? 1 : 0) + QString::fromLatin1(units[unit]);
}

}  // namespace

QVariantMap read_model_summary(const QString& path) {
  QVariantMap out;
  try {
    const auto file = gguf::GgufFile::open(path.toStdString());
    const ModelInfo info = read_model_info(file);
    static const char* const kCounts[] = {"", "K", "M", "B", "T", nullptr};
    static const char* const kBytes[] = {" B", " KB", " MB", " GB", " TB", nullptr};
    out["architecture"] = QString::fromStdString(info.architecture);
    out["name"] = QString::fromStdString(info.name);
    out["parameters"] = short_count(static_cast<double>(info.parameter_count), kCounts, 1000);
    QString quant = QString::fromStdString(info.file_type_name);
    if (quant.isEmpty() && !info.types.empty()) quant = QString::fromStdString(info.types.front().type);
    out["quantization"] = quant;
    out["contextLength"] = static_cast<qint64>(info.shapes.n_ctx_train);
    out["chatTemplate"] = info.has_chat_template;
    out["fileSize"] = short_count(static_cast<double>(info.file_size), kBytes, 1024);
  } catch (const std::exception& e) {
    out.clear();
    out["error"] = QString::fromStdString(e.what());
  }
  return out;
}

}  // namespace hearth
