#pragma once
// Helpers shared by the tokenizer tests: hex lines (any bytes survive a text file), running the
// Python reference scripts, and reading their output.
#include <QProcess>
#include <QStringList>
#include <QTemporaryDir>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/tokenizer/tokenizer.h"

namespace hearth::test {

inline std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (char c : bytes) {
    hex.push_back(kDigits[static_cast<uint8_t>(c) >> 4]);
    hex.push_back(kDigits[static_cast<uint8_t>(c) & 15]);
  }
  return hex;
}

inline std::string from_hex(std::string_view hex) {
  const auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string bytes;
  bytes.reserve(hex.size() / 2);
  for (size_t i = 0; i + 1 < hex.size(); i += 2) bytes.push_back(static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1])));
  return bytes;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

inline void write_hex_lines(const std::string& path, const std::vector<std::string>& items) {
  std::ofstream out(path, std::ios::binary);
  for (const auto& item : items) out << to_hex(item) << '\n';
}

inline std::vector<TokenId> parse_ids(const std::string& line) {
  std::vector<TokenId> ids;
  std::istringstream ss(line);
  for (long id; ss >> id;) ids.push_back(static_cast<TokenId>(id));
  return ids;
}

inline std::string format_ids(const std::vector<TokenId>& ids, size_t max_items = 40) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size() && i < max_items; ++i) s += (i ? " " : "") + std::to_string(ids[i]);
  if (ids.size() > max_items) s += " ...";
  return s + "]";
}

struct ScriptResult {
  bool ran = false;     // false: python missing or the script could not start
  int exit_code = -1;
  std::string output;   // stdout + stderr
};

// Runs HEARTH_PYTHON with `script` (in this directory) and `args`.
inline ScriptResult run_python(const std::string& script, const QStringList& args, int timeout_ms = 240000) {
  ScriptResult result;
  QProcess process;
  process.setProcessChannelMode(QProcess::MergedChannels);
  QStringList all_args;
  all_args << QString::fromStdString(std::string(HEARTH_SOURCE_DIR) + "/tests/core/tokenizer/" + script) << args;
  process.start(QString::fromUtf8(HEARTH_PYTHON), all_args);
  if (!process.waitForStarted(20000)) return result;
  result.ran = true;
  process.waitForFinished(timeout_ms);
  result.exit_code = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
  result.output = process.readAll().toStdString();
  return result;
}

}  // namespace hearth::test
