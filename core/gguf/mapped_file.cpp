// Read-only file mapping. POSIX: open + fstat + mmap(PROT_READ, MAP_PRIVATE). Windows: CreateFileW +
// CreateFileMappingW(PAGE_READONLY) + MapViewOfFile(FILE_MAP_READ).
#include "core/gguf/mapped_file.h"

#include <cerrno>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "core/common/error.h"

#ifdef _WIN32
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace hearth::gguf {

#ifdef _WIN32

MappedFile::MappedFile(const std::filesystem::path& path) {
  const std::string where = path.string();
  HANDLE file = CreateFileW(path.c_str(), GENERIC_READ, FILE_SHARE_READ, nullptr, OPEN_EXISTING,
                            FILE_ATTRIBUTE_NORMAL, nullptr);
  if (file == INVALID_HANDLE_VALUE) {
    throw Error(where + ": cannot open (Windows error " + std::to_string(GetLastError()) + ")");
  }
  file_handle_ = file;
  LARGE_INTEGER size{};
  if (!GetFileSizeEx(file, &size)) {
    release();
    throw Error(where + ": cannot read the file size (Windows error " + std::to_string(GetLastError()) + ")");
  }
  size_ = static_cast<uint64_t>(size.QuadPart);
  if (size_ == 0) return;
  HANDLE mapping = CreateFileMappingW(file, nullptr, PAGE_READONLY, 0, 0, nullptr);
  if (mapping == nullptr) {
    release();
    throw Error(where + ": cannot map (Windows error " + std::to_string(GetLastError()) + ")");
  }
  mapping_handle_ = mapping;
  void* view = MapViewOfFile(mapping, FILE_MAP_READ, 0, 0, 0);
  if (view == nullptr) {
    release();
    throw Error(where + ": cannot map a view (Windows error " + std::to_string(GetLastError()) + ")");
  }
  data_ = static_cast<const uint8_t*>(view);
}

void MappedFile::release() noexcept {
  if (data_ != nullptr) UnmapViewOfFile(data_);
  if (mapping_handle_ != nullptr) CloseHandle(static_cast<HANDLE>(mapping_handle_));
  if (file_handle_ != nullptr) CloseHandle(static_cast<HANDLE>(file_handle_));
  data_ = nullptr;
  mapping_handle_ = nullptr;
  file_handle_ = nullptr;
  size_ = 0;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      file_handle_(std::exchange(other.file_handle_, nullptr)),
      mapping_handle_(std::exchange(other.mapping_handle_, nullptr)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    file_handle_ = std::exchange(other.file_handle_, nullptr);
    mapping_handle_ = std::exchange(other.mapping_handle_, nullptr);
  }
  return *this;
}

#else  // POSIX

MappedFile::MappedFile(const std::filesystem::path& path) {
  const std::string where = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(where + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw Error(where + ": cannot stat: " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(where + ": not a regular file");
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > std::numeric_limits<size_t>::max()) {
    ::close(fd);
    throw Error(where + ": file too large to map on this system");
  }
  if (size > 0) {
    void* p = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      throw Error(where + ": cannot map: " + std::strerror(err));
    }
    data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);  // the mapping keeps the file alive
  size_ = size;
}

void MappedFile::release() noexcept {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), static_cast<size_t>(size_));
  data_ = nullptr;
  size_ = 0;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

#endif

MappedFile::~MappedFile() { release(); }

}  // namespace hearth::gguf
