#include <doctest/doctest.h>

#include "gateway/model/timestamp.hpp"

using namespace communegw;

TEST_CASE("RFC 3339 with offsets, fractions and leap days") {
  CHECK(parse_rfc3339_ms("1970-01-01T00:00:00Z") == 0);
  CHECK(parse_rfc3339_ms("2026-11-23T18:05:00+07:00") == 1795431900000);
  CHECK(parse_rfc3339_ms("2026-11-23T11:05:00.25Z") == 1795431900250);
  CHECK(parse_rfc3339_ms("2026-11-23T11:05:00.123456Z") == 1795431900123);
  CHECK(parse_rfc3339_ms("2024-02-29T00:00:00-01:30") == 1709170200000);
  CHECK(format_rfc3339_ms(1795431900250) == "2026-11-23T11:05:00.250Z");
  CHECK(format_rfc3339_ms(0) == "1970-01-01T00:00:00.000Z");
}

TEST_CASE("times without an offset or with impossible fields are refused") {
  for (const auto* text : {"2026-11-23T18:05:00", "2026-11-23", "2025-02-29T00:00:00Z", "2026-13-01T00:00:00Z",
                           "2026-11-23T24:00:00Z", "2026-11-23T18:05:00+7:00", "2026-11-23T18:05:00.Z",
                           "2026-11-23T18:05:00Zjunk", "", "x026-11-23T18:05:00Z"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_rfc3339_ms(text).has_value());
  }
}
