#include "formats/confined_open.hpp"

#include <cerrno>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace modeld::formats {
namespace {

// Non-blocking, so a file swapped for a FIFO cannot hang the opener; no controlling terminal
// from a swapped-in tty.
constexpr int file_flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;

open_refusal refusal(std::string code, std::string message) { return {std::move(code), std::move(message)}; }

// `path` below `root`, split into its components; none when it is not strictly below it or has
// "." / ".." / empty components (request paths are made lexically normal before they get here).
std::optional<std::vector<std::string>> components_below(std::string_view root, std::string_view path) {
  while (root.size() > 1 && root.back() == '/')
    root.remove_suffix(1);
  const auto prefix = root == "/" ? std::size_t{1} : root.size() + 1;
  if (path.size() <= prefix || !path.starts_with(root) || (root != "/" && path[root.size()] != '/'))
    return std::nullopt;
  std::vector<std::string> parts;
  auto rest = path.substr(prefix);
  while (true) {
    const auto slash = rest.find('/');
    const auto part = rest.substr(0, slash);
    if (part.empty() || part == "." || part == "..")
      return std::nullopt;
    parts.emplace_back(part);
    if (slash == std::string_view::npos)
      return parts;
    rest.remove_prefix(slash + 1);
  }
}

std::string joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& part : parts)
    out.append(out.empty() ? "" : "/").append(part);
  return out;
}

opened_model refusal_for(int error, const std::string& path) {
  switch (error) {
    case ENOENT:
      return refusal("MODEL_NOT_FOUND", "no model file at '" + path + "'");
    case EXDEV:
    case ELOOP:
      return refusal("PATH_NOT_ALLOWED", "'" + path + "' leads outside its model root through a link");
    case ENOTDIR:
      return refusal("PATH_NOT_ALLOWED", "'" + path + "' passes through something that is not a directory");
    default:
      return refusal("UNREADABLE", "cannot open '" + path + "': " + std::strerror(error));
  }
}

// Only regular files are model files: a device or FIFO swapped in would block or read garbage.
opened_model regular_only(unique_fd fd, const std::string& path) {
  struct stat facts {};
  if (::fstat(fd.get(), &facts) != 0)
    return refusal("UNREADABLE", "cannot stat '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(facts.st_mode))
    return refusal("PATH_NOT_ALLOWED", "'" + path + "' is not a regular file");
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
  return fd;
}

unique_fd open_root(const std::string& root) {
  return unique_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
}

} // namespace

unique_fd& unique_fd::operator=(unique_fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

unique_fd unique_fd::duplicate() const noexcept {
  return unique_fd(fd_ < 0 ? -1 : ::fcntl(fd_, F_DUPFD_CLOEXEC, 0));
}

unique_fd::~unique_fd() {
  if (fd_ >= 0)
    ::close(fd_);
}

opened_model open_beneath(const std::string& root, const std::string& path) {
  const auto parts = components_below(root, path);
  if (!parts)
    return refusal("PATH_NOT_ALLOWED", "'" + path + "' is not below the model root '" + root + "'");
  const auto root_fd = open_root(root);
  if (!root_fd)
    return refusal("UNREADABLE", "cannot open the model root '" + root + "': " + std::strerror(errno));
  open_how how{};
  how.flags = file_flags;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  const auto relative = joined(*parts);
  long fd = 0;
  do
    fd = ::syscall(SYS_openat2, root_fd.get(), relative.c_str(), &how, sizeof how);
  while (fd < 0 && (errno == EINTR || errno == EAGAIN));
  if (fd < 0 && (errno == ENOSYS || errno == EPERM)) // no openat2, or a seccomp filter refusing it
    return open_by_walk(root, path);
  if (fd < 0)
    return refusal_for(errno, path);
  return regular_only(unique_fd(static_cast<int>(fd)), path);
}

opened_model open_by_walk(const std::string& root, const std::string& path) {
  const auto parts = components_below(root, path);
  if (!parts)
    return refusal("PATH_NOT_ALLOWED", "'" + path + "' is not below the model root '" + root + "'");
  auto dir = open_root(root);
  if (!dir)
    return refusal("UNREADABLE", "cannot open the model root '" + root + "': " + std::strerror(errno));
  for (std::size_t i = 0; i + 1 < parts->size(); ++i) {
    unique_fd next(::openat(dir.get(), (*parts)[i].c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next)
      return refusal_for(errno == ENOTDIR ? ELOOP : errno, path); // a link to a directory reads as ENOTDIR
    dir = std::move(next);
  }
  unique_fd file(::openat(dir.get(), parts->back().c_str(), file_flags | O_NOFOLLOW));
  if (!file)
    return refusal_for(errno, path);
  return regular_only(std::move(file), path);
}

opened_model open_unconfined(const std::string& path) {
  unique_fd file(::open(path.c_str(), file_flags));
  if (!file) {
    const int error = errno;
    return refusal(std::get<open_refusal>(refusal_for(error, path)).code,
                   "cannot open " + path + ": " + std::strerror(error));
  }
  return regular_only(std::move(file), path);
}

} // namespace modeld::formats
