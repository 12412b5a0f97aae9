// NDJSON framing: splits a byte stream into lines, enforcing the frame limit. A line longer
// than the limit is discarded up to its newline and reported once, so the connection stays
// usable (PROTOCOL.md, "Transport and framing"). Pure: no sockets, unit-tested alone.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace modeld::protocol {

struct frame {
  enum class kind { line, too_large };
  kind type;
  // The line without its '\n', trailing '\r' and leading UTF-8 byte-order mark. Valid only
  // during the callback.
  std::string_view text;
  // For too_large: how many bytes the discarded line had.
  std::size_t size;
};

class line_splitter {
public:
  explicit line_splitter(std::size_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}

  // Consumes `bytes`, calling on_frame(const frame&) for every complete line. Blank lines
  // are skipped.
  template <class OnFrame>
  void feed(std::string_view bytes, OnFrame&& on_frame);

  // A line has started but its newline has not arrived yet.
  bool has_partial_line() const { return !pending_.empty() || discarded_ > 0; }

private:
  template <class OnFrame>
  void finish_line(std::string_view line, OnFrame& on_frame);

  std::size_t max_line_bytes_;
  std::string pending_;
  std::size_t discarded_ = 0; // > 0 while skipping the rest of an oversized line
};

std::string_view strip_line(std::string_view line);

template <class OnFrame>
void line_splitter::feed(std::string_view bytes, OnFrame&& on_frame) {
  while (!bytes.empty()) {
    auto newline = bytes.find('\n');
    if (newline == std::string_view::npos) {
      if (discarded_ > 0) {
        discarded_ += bytes.size();
      } else if (pending_.size() + bytes.size() > max_line_bytes_ + 4) {
        // +4 leaves room for a '\r' and a byte-order mark (3 bytes), which will be stripped:
        // a line within the limit must not be discarded because its newline came later.
        discarded_ = pending_.size() + bytes.size();
        pending_.clear();
        pending_.shrink_to_fit();
      } else {
        pending_.append(bytes);
      }
      return;
    }
    auto head = bytes.substr(0, newline);
    bytes.remove_prefix(newline + 1);
    if (discarded_ > 0) {
      frame f{frame::kind::too_large, {}, discarded_ + head.size()};
      discarded_ = 0;
      on_frame(f);
    } else if (pending_.empty()) {
      finish_line(head, on_frame);
    } else {
      pending_.append(head);
      finish_line(pending_, on_frame);
      pending_.clear();
    }
  }
}

template <class OnFrame>
void line_splitter::finish_line(std::string_view line, OnFrame& on_frame) {
  auto text = strip_line(line);
  if (text.size() > max_line_bytes_) {
    on_frame(frame{frame::kind::too_large, {}, line.size()});
    return;
  }
  if (text.find_first_not_of(" \t") == std::string_view::npos)
    return;
  on_frame(frame{frame::kind::line, text, text.size()});
}

} // namespace modeld::protocol
