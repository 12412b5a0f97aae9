#include "actors/secrets.hpp"

#include <openssl/crypto.h>

namespace modeld::actors {

bool same_secret(std::string_view given, std::string_view expected) {
  const bool same_length = given.size() == expected.size();
  const auto against = same_length ? expected : given;
  const bool same_bytes = CRYPTO_memcmp(given.data(), against.data(), given.size()) == 0;
  return same_length && same_bytes && !expected.empty();
}

} // namespace modeld::actors
