#include "ctl/progress.hpp"

#include "gpu/byte_size.hpp"

#include <algorithm>
#include <cmath>

#include <unistd.h>

namespace modeld::ctl {

std::string progress_line(const progress_event& event, std::size_t width) {
  double fraction = std::clamp(std::isfinite(event.progress) ? event.progress : 0.0, 0.0, 1.0);
  auto filled = static_cast<std::size_t>(std::floor(fraction * static_cast<double>(width)));
  auto percent = static_cast<int>(std::floor(fraction * 100.0));
  char percent_text[8];
  std::snprintf(percent_text, sizeof percent_text, "%3d%%", percent);
  std::string line = (event.stage.empty() ? std::string{"working"} : event.stage) + " [" + std::string(filled, '#') +
                     std::string(width - filled, '.') + "] " + percent_text;
  if (event.total_bytes > 0)
    line += "  " + gpu::format_byte_size(event.done_bytes) + "/" + gpu::format_byte_size(event.total_bytes);
  return line;
}

progress_bar::~progress_bar() {
  if (drawn_) {
    std::fputs("\r\033[K", out_); // erase the bar so the answer starts on a clean line
    std::fflush(out_);
  }
}

void progress_bar::update(const progress_event& event) {
  std::fputs(("\r\033[K" + progress_line(event, 30)).c_str(), out_);
  std::fflush(out_);
  drawn_ = true;
}

bool stderr_is_terminal() { return isatty(STDERR_FILENO) == 1; }

} // namespace modeld::ctl
