#pragma once
// What `communegw init` says, in English and Vietnamese. The on-site IT
// person may read either; messages are chosen by --lang, else by $LANG
// ("vi..." gives Vietnamese), else English.
#include <cstdlib>
#include <string>
#include <string_view>

namespace communegw {

// deploy/mosquitto/communegw.conf, embedded at build time (generated source).
extern const std::string_view shipped_broker_config;

struct init_message {
  std::string_view en;
  std::string_view vi;
};

namespace messages {
inline constexpr init_message ask_gateway_id{"Gateway id (letters, digits, - and _)", "Mã gateway (chữ, số, - và _)"};
inline constexpr init_message ask_province{"Province id", "Mã tỉnh"};
inline constexpr init_message ask_commune{"Commune id", "Mã xã"};
inline constexpr init_message ask_classes{"Device classes in use, comma-separated ({})",
                                          "Các loại thiết bị đang dùng, cách nhau bởi dấu phẩy ({})"};
inline constexpr init_message missing_flag{"{} is required (stdin is not a terminal, so init cannot ask)",
                                           "thiếu {} (stdin không phải terminal nên không thể hỏi)"};
inline constexpr init_message unknown_class{"unknown device class \"{}\"; known: {}",
                                            "loại thiết bị \"{}\" không tồn tại; các loại hợp lệ: {}"};
inline constexpr init_message refuse_overwrite{"{} already exists; not overwritten (use --force to replace it)",
                                               "{} đã tồn tại; không ghi đè (dùng --force để thay thế)"};
inline constexpr init_message no_directory{"directory {} does not exist", "thư mục {} không tồn tại"};
inline constexpr init_message no_interface{
    "warning: network interface {} not found on this machine; set --lan-interface (see `ip -br addr`)",
    "cảnh báo: không tìm thấy giao diện mạng {} trên máy này; đặt --lan-interface (xem `ip -br addr`)"};
inline constexpr init_message loopback_only{
    "note: --lan-interface lo: the broker listens on this machine only (no LAN listener); devices on the network "
    "need init with the LAN interface (see `ip -br addr`)",
    "lưu ý: --lan-interface lo: broker chỉ nghe trên máy này (không có listener LAN); thiết bị trong mạng cần chạy "
    "init với giao diện LAN (xem `ip -br addr`)"};
inline constexpr init_message written{"Written: {}\n         {}\n         {}\n         {}",
                                      "Đã ghi: {}\n        {}\n        {}\n        {}"};
inline constexpr init_message passwords_once{
    "Broker passwords (shown ONLY NOW; write them down for the devices, they are stored only as hashes):",
    "Mật khẩu broker (CHỈ hiển thị MỘT LẦN; hãy ghi lại cho các thiết bị, máy chỉ lưu bản băm):"};
inline constexpr init_message next_steps{
    "Next: sudo systemctl restart mosquitto communegw, then communegw check",
    "Tiếp theo: sudo systemctl restart mosquitto communegw, rồi chạy communegw check"};
inline constexpr init_message checking{"Checking the result (communegw check):", "Kiểm tra kết quả (communegw check):"};
}  // namespace messages

class init_text {
 public:
  // `lang`: "vi", "en" or empty (from $LANG).
  explicit init_text(std::string_view lang) {
    if (lang.empty()) {
      const char* env = std::getenv("LANG");
      vietnamese_ = env != nullptr && std::string_view(env).starts_with("vi");
    } else {
      vietnamese_ = lang == "vi";
    }
  }
  std::string_view operator()(const init_message& message) const { return vietnamese_ ? message.vi : message.en; }

 private:
  bool vietnamese_ = false;
};

}  // namespace communegw
