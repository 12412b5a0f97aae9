#include "formats/component_identity.hpp"

#include "formats/architecture.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <map>
#include <memory>

namespace modeld::formats {
namespace {

constexpr std::uint64_t chunk_bytes = 4 << 20;

struct digest_deleter {
  void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};

class sha256 {
public:
  sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }
  void add(const void* data, std::size_t size) { EVP_DigestUpdate(ctx_.get(), data, size); }
  void add(const std::string& text) { add(text.data(), text.size() + 1); } // with its NUL: fields never run together
  std::string hex() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(ctx_.get(), out, &size);
    static constexpr char digits[] = "0123456789abcdef";
    std::string text;
    for (unsigned int i = 0; i < size; ++i) {
      text.push_back(digits[out[i] >> 4]);
      text.push_back(digits[out[i] & 0xF]);
    }
    return text;
  }

private:
  std::unique_ptr<EVP_MD_CTX, digest_deleter> ctx_;
};

// Every tensor lies plainly in the file, contiguous (the same test a load makes).
bool addressable(const std::map<std::string, const tensor_info*>& tensors, std::uint64_t file_size) {
  return std::all_of(tensors.begin(), tensors.end(), [&](auto& named) {
    auto* t = named.second;
    return t->data_in_file && t->data_begin <= t->data_end && t->data_end <= file_size &&
           t->data_end - t->data_begin == t->byte_size;
  });
}

} // namespace

// By their names inside the component (sorted: the file's order does not change an identity).
std::map<std::string, std::map<std::string, const tensor_info*>> tensors_by_component(const model_report& report) {
  std::map<std::string, std::map<std::string, const tensor_info*>> out;
  for (const auto& t : report.tensors)
    out[component_of(t.name, report.type)][std::string{name_within_component(t.name)}] = &t;
  return out;
}

std::vector<std::string> shareable_components(const model_report& report) {
  std::vector<std::string> names;
  if (report.format == model_format::torchscript || report.format == model_format::unknown ||
      report.components.size() < 2)
    return names;
  auto largest = std::max_element(report.components.begin(), report.components.end(),
                                  [](auto& a, auto& b) { return a.bytes < b.bytes; });
  auto grouped = tensors_by_component(report);
  for (auto c = report.components.begin(); c != report.components.end(); ++c)
    if (auto it = grouped.find(c->name);
        c != largest && it != grouped.end() && addressable(it->second, report.file.size_bytes))
      names.push_back(c->name);
  return names;
}

std::variant<std::vector<component_identity>, std::string> identify_components(const model_report& report,
                                                                                const range_reader& read,
                                                                                const std::atomic<bool>* cancel) {
  std::vector<component_identity> identities;
  auto grouped = tensors_by_component(report);
  std::vector<std::uint8_t> chunk;
  for (const auto& name : shareable_components(report)) {
    sha256 hash;
    for (const auto& [inner_name, t] : grouped.at(name)) {
      hash.add(inner_name);
      hash.add(t->dtype);
      std::string shape;
      for (auto d : t->shape)
        shape += std::to_string(d) + ",";
      hash.add(shape);
      hash.add(std::to_string(t->byte_size));
      for (std::uint64_t at = t->data_begin; at < t->data_end;) {
        if (cancel != nullptr && cancel->load(std::memory_order_relaxed))
          return std::string{"cancelled"};
        auto bytes = std::min(chunk_bytes, t->data_end - at);
        chunk.resize(bytes);
        if (auto why = read(chunk.data(), at, bytes))
          return *why;
        hash.add(chunk.data(), bytes);
        at += bytes;
      }
    }
    identities.push_back({name, hash.hex()});
  }
  return identities;
}

std::optional<std::string> identity_of(const std::vector<component_identity>& identities, const std::string& component) {
  for (const auto& i : identities)
    if (i.component == component)
      return i.identity;
  return std::nullopt;
}

} // namespace modeld::formats
