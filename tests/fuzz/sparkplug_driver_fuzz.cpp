// libFuzzer target for the Sparkplug B driver: whatever arrives, the decoder
// returns a message or a rejection, never crashes, never reads out of bounds
// (ASan + UBSan). The driver is configured as its fixtures are
// (tests/data/sparkplug/driver.toml). Before each input the edge node and
// device of the fixtures are born again, so data messages by alias reach the
// mapping whatever inputs came before; births in the input replace them.
//
// Seeds: the fixtures are text, so `sparkplug_fuzz_seeds <dir>` writes them
// as the bytes on the wire ("<topic>\n<protobuf>") first (scripts/test.sh).
#include "drivers/sparkplug/sparkplug_driver.hpp"
#include "tests/fuzz/configured_driver.hpp"
#include "tests/fuzz/driver_fuzz_input.hpp"
#include "tests/support/sparkplug_payload.hpp"

namespace {

const std::string& node_birth() {
  static const auto bytes = communegw::test::encode_sparkplug_fixture(
      "timestamp 1795402800000\nseq 0\n"
      "metric name=\"bdSeq\" datatype=UInt64 value=8\n"
      "metric name=\"Sensors/Temperature\" alias=2 datatype=Float value=20 engUnit=\"°C\"\n"
      "metric name=\"Sensors/Humidity\" alias=3 datatype=Double value=75\n"
      "metric name=\"Sensors/Pressure\" alias=9 datatype=String value=\"1008.6\" engUnit=\"hPa\"\n"
      "metric name=\"Battery/Temperature\" alias=11 datatype=Int8 value=-5 engUnit=\"°C\"\n"
      "metric name=\"Energy/Total\" alias=5 datatype=UInt64 value=1234567\n"
      "metric name=\"Node Info/Boot Time\" alias=6 datatype=DateTime value=1795399260000\n");
  return bytes;
}

const std::string& device_birth() {
  static const auto bytes = communegw::test::encode_sparkplug_fixture(
      "timestamp 1795402800000\nseq 1\n"
      "metric name=\"Lamp/On\" alias=100 datatype=Boolean value=true\n"
      "metric name=\"Lamp/Dim\" alias=101 datatype=UInt8 value=80 engUnit=\"%\"\n"
      "metric name=\"Soil/Raw\" alias=200 datatype=UInt16 value=423\n");
  return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto driver = communegw::make_sparkplug_driver(communegw::fuzz::configured_driver("sparkplug"));
  static constexpr std::string_view topics[] = {
      "spBv1.0/xa-an-binh/NDATA/tram-1",  "spBv1.0/xa-an-binh/DDATA/tram-1/den-duong-07",
      "spBv1.0/xa-an-binh/NBIRTH/tram-1", "spBv1.0/xa-an-binh/DBIRTH/tram-1/den-duong-07",
      "spBv1.0/xa-an-binh/NDEATH/tram-1", "spBv1.0/xa-an-binh/DDEATH/tram-1/den-duong-07",
      "spBv1.0/STATE/scada-huyen",
  };
  driver->decode("spBv1.0/xa-an-binh/NBIRTH/tram-1", node_birth());
  driver->decode("spBv1.0/xa-an-binh/DBIRTH/tram-1/den-duong-07", device_birth());
  const auto [topic, payload] = communegw::fuzz::split_input(data, size, topics);
  communegw::fuzz::check_result(driver->decode(topic, payload));
  return 0;
}
