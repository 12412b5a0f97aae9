#include "formats/mapped_file.hpp"

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace modeld::formats {

namespace {

std::uint64_t page_size() noexcept {
  static const auto size = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

// ---- SIGBUS guard ----
// The handler reads this table with atomics only (no locks: it runs inside a signal).
// Registration writes `end` before publishing `begin`; release clears `begin` first.
struct guarded_range {
  std::atomic<std::uintptr_t> begin{0};
  std::atomic<std::uintptr_t> end{0};
  std::atomic<bool> truncated{false};
};

constexpr int max_guarded = 1024;
std::array<guarded_range, max_guarded> guarded;
std::mutex guard_mutex; // serializes registration, never taken by the handler
struct sigaction previous_bus_action {};

void on_bus_error(int signal, siginfo_t* info, void* context) {
  const auto address = reinterpret_cast<std::uintptr_t>(info->si_addr);
  for (auto& range : guarded) {
    const auto begin = range.begin.load(std::memory_order_acquire);
    const auto end = range.end.load(std::memory_order_acquire);
    // A slot re-registered between the two loads changed `begin`: skip it (the faulting
    // thread's own mapping cannot change under it).
    if (begin == 0 || range.begin.load(std::memory_order_acquire) != begin || address < begin || address >= end)
      continue;
    const auto page = address & ~(static_cast<std::uintptr_t>(page_size()) - 1);
    // The file ends before this page now: zeros from here on, so the read completes.
    void* zeros = ::mmap(reinterpret_cast<void*>(page), end - page, PROT_READ,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (zeros != MAP_FAILED) {
      range.truncated.store(true, std::memory_order_release);
      return;
    }
  }
  // Not a guarded mapping: whatever would have happened without this handler. Returning
  // re-runs the faulting instruction under the previous disposition.
  ::sigaction(SIGBUS, &previous_bus_action, nullptr);
  if (previous_bus_action.sa_flags & SA_SIGINFO) {
    if (previous_bus_action.sa_sigaction != nullptr)
      previous_bus_action.sa_sigaction(signal, info, context);
  } else if (previous_bus_action.sa_handler != SIG_DFL && previous_bus_action.sa_handler != SIG_IGN &&
             previous_bus_action.sa_handler != nullptr) {
    previous_bus_action.sa_handler(signal);
  }
}

void install_bus_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_sigaction = on_bus_error;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGBUS, &action, &previous_bus_action);
  });
}

// A slot guarding [begin, begin + bytes rounded up to pages), or -1 when the table is full.
int guard(const std::uint8_t* begin, std::uint64_t bytes) {
  install_bus_handler();
  const std::lock_guard lock(guard_mutex);
  for (int slot = 0; slot < max_guarded; ++slot) {
    auto& range = guarded[static_cast<std::size_t>(slot)];
    if (range.begin.load(std::memory_order_relaxed) != 0)
      continue;
    const auto start = reinterpret_cast<std::uintptr_t>(begin);
    range.end.store(start + (bytes + page_size() - 1) / page_size() * page_size(), std::memory_order_relaxed);
    range.truncated.store(false, std::memory_order_relaxed);
    range.begin.store(start, std::memory_order_release);
    return slot;
  }
  return -1;
}

void unguard(int slot) {
  if (slot < 0)
    return;
  const std::lock_guard lock(guard_mutex);
  guarded[static_cast<std::size_t>(slot)].begin.store(0, std::memory_order_release);
}

} // namespace

mapped_file::mapped_file(mapped_file&& other) noexcept
  : data_(std::exchange(other.data_, nullptr)),
    size_(std::exchange(other.size_, 0)),
    open_(std::exchange(other.open_, false)),
    guard_(std::exchange(other.guard_, -1)) {
}

bool mapped_file::truncated() const noexcept {
  return guard_ >= 0 && guarded[static_cast<std::size_t>(guard_)].truncated.load(std::memory_order_acquire);
}

mapped_file& mapped_file::operator=(mapped_file&& other) noexcept {
  if (this != &other) {
    this->~mapped_file();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    open_ = std::exchange(other.open_, false);
    guard_ = std::exchange(other.guard_, -1);
  }
  return *this;
}

mapped_file::~mapped_file() {
  unguard(std::exchange(guard_, -1)); // before the range can be mapped again by anyone
  if (data_ != nullptr && size_ > 0)
    ::munmap(const_cast<std::uint8_t*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
  open_ = false;
}

mapped_file mapped_file::open(const std::filesystem::path& path, std::string& error) {
  auto opened = open_unconfined(path.string());
  if (auto* refused = std::get_if<open_refusal>(&opened)) {
    error = refused->message;
    return {};
  }
  return map(std::move(std::get<unique_fd>(opened)), error);
}

mapped_file mapped_file::map(unique_fd fd, std::string& error) {
  mapped_file result;
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) {
    error = std::strerror(errno);
    return result;
  }
  if (!S_ISREG(info.st_mode)) {
    // Devices and FIFOs would block or map garbage; model files are regular files.
    error = "not a regular file";
    return result;
  }
  const auto size = static_cast<std::uint64_t>(info.st_size);
  if (size > 0) {
    void* address = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
    if (address == MAP_FAILED) {
      error = std::strerror(errno);
      return result;
    }
    result.data_ = static_cast<const std::uint8_t*>(address);
    result.guard_ = guard(result.data_, size);
  }
  // Closed on return: the mapping keeps its own reference to the file.
  result.size_ = size;
  result.open_ = true;
  return result;
}

void mapped_file::advise_sequential() const noexcept {
  if (data_ != nullptr && size_ > 0)
    ::madvise(const_cast<std::uint8_t*>(data_), size_, MADV_SEQUENTIAL);
}

void mapped_file::release(std::uint64_t begin, std::uint64_t end) const noexcept {
  if (data_ == nullptr || end > size_ || begin >= end)
    return;
  const auto page = page_size();
  const auto aligned_begin = (begin + page - 1) / page * page;
  const auto aligned_end = end == size_ ? end : end / page * page;
  if (aligned_begin >= aligned_end)
    return;
  ::madvise(const_cast<std::uint8_t*>(data_) + aligned_begin, aligned_end - aligned_begin,
            MADV_DONTNEED);
}

} // namespace modeld::formats
