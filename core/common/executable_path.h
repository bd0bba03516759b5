#pragma once
// The running program's own file, for finding what is installed beside it (the bundled model in
// <exe>/../share/hearth/models). Linux: /proc/self/exe; Windows: GetModuleFileNameW.
#include <filesystem>

namespace hearth {

// Empty when the platform cannot say (no /proc, a path longer than Windows' 32767 characters).
std::filesystem::path executable_path();

}  // namespace hearth
