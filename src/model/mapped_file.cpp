#include "model/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace strata {

namespace {
// Closes the descriptor on every path out of map_file_readonly.
struct FileDescriptor {
  int fd = -1;
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
};

std::string errno_text() { return std::strerror(errno); }
}  // namespace

std::shared_ptr<Storage> map_file_readonly(const std::string& path) {
  FileDescriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) throw Error(path + ": cannot open: " + errno_text());
  struct stat info {};
  if (::fstat(file.fd, &info) != 0) throw Error(path + ": cannot stat: " + errno_text());
  if (!S_ISREG(info.st_mode)) throw Error(path + ": not a regular file");
  const auto size = static_cast<size_t>(info.st_size);
  if (size == 0) return Storage::wrap(nullptr, 0, Device::CPU, nullptr);
  void* base = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, file.fd, 0);
  if (base == MAP_FAILED) throw Error(path + ": cannot map " + std::to_string(size) + " bytes: " + errno_text());
  // The mapping outlives the descriptor; munmap when the last tensor view is gone.
  std::shared_ptr<void> keepalive(base, [size](void* p) { ::munmap(p, size); });
  return Storage::wrap(base, size, Device::CPU, std::move(keepalive));
}

}  // namespace strata
