#include "gpu/memory_account.hpp"

#include <stdexcept>

namespace modeld::gpu {

bool memory_account::try_reserve(std::uint64_t bytes) {
  if (bytes > free())
    return false;
  reserved_ += bytes;
  return true;
}

void memory_account::commit(std::uint64_t bytes) {
  if (bytes > reserved_)
    throw std::logic_error("memory_account: commit of more bytes than were reserved");
  reserved_ -= bytes;
  used_ += bytes;
}

void memory_account::cancel_reservation(std::uint64_t bytes) {
  if (bytes > reserved_)
    throw std::logic_error("memory_account: cancel of more bytes than were reserved");
  reserved_ -= bytes;
}

void memory_account::release(std::uint64_t bytes) {
  if (bytes > used_)
    throw std::logic_error("memory_account: release of more bytes than are held");
  used_ -= bytes;
}

} // namespace modeld::gpu
