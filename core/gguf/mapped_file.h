#pragma once
// A whole file mapped read-only into memory (POSIX mmap, or CreateFileMapping on Windows).
// Model weights are read straight from the page cache this way: opening a multi-gigabyte file
// costs no copy, and pages are loaded on first touch.
#include <cstdint>
#include <filesystem>
#include <span>

namespace hearth::gguf {

class MappedFile {
 public:
  // Maps `path` read-only. Throws hearth::Error when it cannot be opened or mapped. An empty file
  // gives an empty span (mapping zero bytes is not allowed by the OS).
  explicit MappedFile(const std::filesystem::path& path);
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const uint8_t> bytes() const { return {data_, size_}; }

 private:
  void release() noexcept;

  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
#ifdef _WIN32
  void* file_handle_ = nullptr;
  void* mapping_handle_ = nullptr;
#endif
};

}  // namespace hearth::gguf
