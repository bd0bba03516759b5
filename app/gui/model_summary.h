#pragma once
// What the model dialog shows about a GGUF file before and after loading: architecture, name,
// parameters, quantization, trained context length, chat template, file size. Reads the file's
// header and metadata (core/model/model_info.h); call it off the GUI thread (it maps and
// validates the whole file).
#include <QString>
#include <QVariantMap>

namespace hearth {

// Keys: architecture, name, parameters ("15.2M"), quantization ("Q4_K_M" or the main tensor
// type), contextLength (int), chatTemplate (bool), fileSize ("1.2 GB"); or just "error".
QVariantMap read_model_summary(const QString& path);

}  // namespace hearth
