#pragma once
// Streetlight fault codes and the changes-only rule for recording them.
//
// A charge controller repeats its active faults in every report. Events mark
// only the changes: a code that appears is a `lamp_fault` event with that code,
// a code no longer reported a `lamp_fault_cleared` event (info). A fault lasting
// two hours is one event and its clearing, not 120 events. The known codes and
// their severities are in docs/native-format.md; an unknown code is still
// recorded (as a warning, with "known":false), because a new firmware's fault
// matters too.
//
// A device may report its faults from several sources (one status word per
// register, one field per flag): each source's set is tracked on its own, so a
// report from one source never clears the faults of another.
//
// Not thread-safe: owned by one driver instance. Bounded: a flood of invented
// device ids cannot grow it forever (it forgets everything when full, so the
// faults still active are recorded once more, as after a restart).

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/model/record.hpp"

namespace communegw {

class fault_tracker {
 public:
  // `reported`: every code `source` of the device `out.device_id` reports as
  // active now. Appends the events for what changed since its last report to
  // `out.events`, stamped with `out.device_time_ms`.
  void report(decoded_message& out, std::string_view source, std::vector<std::string> reported);

 private:
  std::unordered_map<std::string, std::vector<std::string>> active_;  // by "<device>\n<source>"
  static constexpr std::size_t max_tracked = 100'000;
};

// Severity of a known fault code, or warning for an unknown one.
severity fault_severity(std::string_view code, bool* known = nullptr);

}  // namespace communegw
