// Comparing a secret a client or a node sent with the one configured.
#pragma once

#include <string_view>

namespace modeld::actors {

// Compares without an early exit (OpenSSL's CRYPTO_memcmp), so the time taken does not reveal
// the secret's prefix. The work depends only on the length sent: a secret of another length is
// compared with itself, and its answer is no whatever that comparison says. An empty expected
// secret matches nothing.
bool same_secret(std::string_view given, std::string_view expected);

} // namespace modeld::actors
