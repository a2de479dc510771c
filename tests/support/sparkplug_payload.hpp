#pragma once
// Sparkplug B fixtures are protobuf on the wire but text in tests/data/sparkplug/,
// so a reviewer can read each one. The payload part of a fixture file (the
// lines after the topic) describes the payload, one directive per line;
// encode_sparkplug_fixture() builds it with the generated classes of
// drivers/sparkplug/sparkplug_b.proto, the same schema the driver decodes.
//
//   # a comment                       (also after a directive's arguments: none)
//   timestamp <u64>                   Payload.timestamp (Unix ms)
//   seq <u64>                         Payload.seq
//   metric <key>=<value> …            one Payload.Metric:
//       name="…" alias=<u64> timestamp=<u64> datatype=<Int8…Text | number>
//       historical transient null     the is_historical / is_transient / is_null flags
//       value=<v>                     into the value field the datatype names (Int8…UInt32 in
//                                     int_value as 32-bit two's complement, Int64/UInt64/DateTime in
//                                     long_value, Float, Double, Boolean, String/Text)
//       int=<i> long=<i> float=<f> double=<f> bool=true|false string="…"
//                                     a value field set directly (data messages carry no datatype;
//                                     negative numbers as two's complement of the field's width)
//       engUnit="…" EngUnit="…"       a String property of that key
//       quality=<n>                   the Quality property (Int32)
//   raw <hex>                         the payload is exactly these bytes (replaces all of the above)
//   text <rest of the line>           the payload is this text (STATE JSON, or text where protobuf belongs)
//   append <hex>                      bytes added after the encoded payload
//   truncate <n>                      only the first n bytes of the encoded payload
//
// Quoted strings take \" \\ and \xNN escapes. A line the format does not know
// throws std::invalid_argument naming it: a broken fixture fails its test.

#include <string>
#include <string_view>

namespace communegw::test {

std::string encode_sparkplug_fixture(std::string_view description);

}  // namespace communegw::test
