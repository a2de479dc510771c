#include "gateway/uplink/drain_meter.hpp"

namespace communegw {

void drain_meter::on_pump(bool saturated, time_point now) {
  if (!saturated) {
    window_start_.reset();
  } else if (!window_start_) {
    window_start_ = now;
    acknowledged_ = 0;
  }
}

void drain_meter::on_acknowledged(std::size_t records) {
  if (window_start_) acknowledged_ += records;
}

void drain_meter::on_disconnected() { window_start_.reset(); }

std::optional<double> drain_meter::poll(time_point now) {
  if (!window_start_ || now - *window_start_ < window_) return std::nullopt;
  const double seconds = std::chrono::duration<double>(now - *window_start_).count();
  const double measured = static_cast<double>(acknowledged_) / seconds;
  // Half the old, half the new: follows a changed link within a few minutes
  // without jumping on one slow window.
  rate_ = rate_ ? (*rate_ + measured) / 2 : measured;
  window_start_ = now;
  acknowledged_ = 0;
  return rate_;
}

}  // namespace communegw
