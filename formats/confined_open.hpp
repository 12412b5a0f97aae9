// Opening a model file so that it stays inside its model root at the moment of opening.
//
// A path that was checked once (at scan time, or when a request named it) can be swapped for a
// link to /etc/passwd or to a file outside every root before it is opened again. So every open
// of a model file resolves the path relative to a descriptor of its root, refusing any link that
// leaves the root, and everything after reads through that one descriptor, never by path again.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace modeld::formats {

// A file descriptor owned by one object; closed on destruction.
class unique_fd {
public:
  unique_fd() = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept;
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd();

  int get() const noexcept { return fd_; }
  // A second descriptor of the same open file (invalid when the process is out of them), for a
  // reader that takes ownership while this one stays open.
  unique_fd duplicate() const noexcept;
  int release() noexcept { return std::exchange(fd_, -1); }
  explicit operator bool() const noexcept { return fd_ >= 0; }

private:
  int fd_ = -1;
};

// Why a model file was not opened, with its wire code: PATH_NOT_ALLOWED (outside the root,
// through a link that leaves it, or not a regular file), MODEL_NOT_FOUND (no such file), or
// UNREADABLE (permissions, I/O).
struct open_refusal {
  std::string code;
  std::string message;
};

using opened_model = std::variant<unique_fd, open_refusal>;

// Opens `path` (absolute and lexically below `root`, as discovery and path resolution give it)
// read-only. Resolution starts at a descriptor of `root`: with openat2's RESOLVE_BENEATH where
// the kernel has it (links are followed only while they stay below the root), else by
// open_by_walk. The result is a regular file.
opened_model open_beneath(const std::string& root, const std::string& path);

// The fallback for kernels without openat2 (before 5.6): one component at a time with
// O_NOFOLLOW, so any link on the way is refused, even one that stays inside the root.
opened_model open_by_walk(const std::string& root, const std::string& path);

// Opens any regular file by path, for tools and tests that hold no model roots.
opened_model open_unconfined(const std::string& path);

} // namespace modeld::formats
