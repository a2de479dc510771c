// communegw: the commune IoT gateway. This file only parses the command line;
// each command lives in its own file (commands.hpp).
#include <iostream>

#include <CLI/CLI.hpp>

#include "gateway/cli/commands.hpp"
#include "gateway/mqtt/paho_process.hpp"
#include "gateway/service/process_memory.hpp"
#include "gateway/store/sqlite.hpp"
#include "gateway/store/store.hpp"

int main(int argc, char** argv) {
  using namespace communegw;
  process_memory::configure();
  sqlite::configure_process();
  paho::configure_process();
  CLI::App app{"communegw: commune IoT edge gateway (MQTT ingest, durable SQLite store)"};
  app.require_subcommand(1);
  std::string config_path = "/etc/communegw/communegw.toml";
  app.add_option("-c,--config", config_path, "Configuration file")->capture_default_str();

  auto* run = app.add_subcommand("run", "Run the gateway (ingest into the store) until SIGTERM/SIGINT");
  auto* check = app.add_subcommand("check", "Check config, broker, store, disk and clock; exit 0 ok, 1 warn, 2 fail");

  query_options query;
  auto* query_cmd = app.add_subcommand("query", "Show readings, events, rejections, counters or devices from the store");
  query_cmd->add_option("what", query.what, "readings | events | rejections | counters | devices | uplink")
      ->required()
      ->check(CLI::IsMember({"readings", "events", "rejections", "counters", "devices", "uplink", "registry"}));
  query_cmd->add_option("--device", query.device, "Only this device id");
  query_cmd->add_option("--metric", query.metric, "Only this metric (readings), event kind (events) or reason (rejections)");
  query_cmd->add_option("--since", query.since, "From this time: RFC 3339, or a duration ago such as 2h");
  query_cmd->add_option("--until", query.until, "Before this time: RFC 3339, or a duration ago");
  query_cmd->add_option("--limit", query.limit, "Most rows to show")->capture_default_str()->check(CLI::Range(1, 10'000'000));
  query_cmd->add_option("--format", query.format, "table | json | csv")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "json", "csv"}));

  std::string device_csv;
  query_options device_list;
  device_list.what = "registry";
  device_list.limit = 10'000'000;
  auto* device_cmd = app.add_subcommand("device", "The device registry: import an installer's CSV, list the registered devices");
  device_cmd->require_subcommand(1);
  auto* device_import = device_cmd->add_subcommand("import", "Import devices from a CSV (replaces the previous import)");
  device_import->add_option("file", device_csv, "CSV with a header row: id,kind,name,village,latitude,longitude,"
                                                "road_length_m,report_interval,driver,units")
      ->required();
  auto* device_list_cmd = device_cmd->add_subcommand("list", "List the registered devices (config and imported)");
  device_list_cmd->add_option("--device", device_list.device, "Only this device id");
  device_list_cmd->add_option("--format", device_list.format, "table | json | csv")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "json", "csv"}));

  std::string describe_what;
  auto* describe_cmd = app.add_subcommand("describe", "Print generated reference: config (example file), metrics, drivers, broker-acl");
  describe_cmd->add_option("what", describe_what, "config | metrics | drivers | broker-acl")->required();

  init_options init;
  auto* init_cmd = app.add_subcommand("init", "Set up this gateway: write the config (at --config) and the broker's users, "
                                              "passwords and ACL; prompts for what is missing when run in a terminal");
  init_cmd->add_option("--gateway-id", init.gateway_id, "This gateway's id (letters, digits, - and _)");
  init_cmd->add_option("--province", init.province, "Province id");
  init_cmd->add_option("--commune", init.commune, "Commune id");
  init_cmd->add_option("--classes", init.classes, "Device classes / bridges that get a broker user (comma-separated)")
      ->delimiter(',');
  init_cmd->add_option("--central-url", init.central_url, "Central programme server address");
  init_cmd->add_option("--central-user", init.central_username, "Central programme server username");
  init_cmd->add_option("--central-password", init.central_password, "Central programme server password");
  init_cmd->add_option("--lan-interface", init.lan_interface, "Network interface the devices reach the broker on")
      ->capture_default_str();
  init_cmd->add_option("--broker-dir", init.broker_dir, "Where the broker snippet, password file and ACL go")
      ->capture_default_str();
  init_cmd->add_option("--lang", init.lang, "Language of the messages: vi | en (default: from LANG)")
      ->check(CLI::IsMember({"vi", "en"}));
  init_cmd->add_flag("--force", init.force, "Replace existing files (new passwords: every device must be updated)");

  central_options central;
  std::string central_password_file;
  auto* central_cmd = app.add_subcommand(
      "central", "Reference receiver for the programme server: store every gateway's uplink once, report gaps");
  central_cmd->add_option("--uri", central.uri, "Central broker (tcp:// or ssl://)")->capture_default_str();
  central_cmd->add_option("--db", central.database, "Receiver's SQLite file")->capture_default_str();
  central_cmd->add_option("--client-id", central.client_id, "Fixed client id of its persistent session")->capture_default_str();
  central_cmd->add_option("--username", central.username, "Username at the central broker");
  central_cmd->add_option("--password-file", central_password_file, "File holding the password (first line)")
      ->check(CLI::ExistingFile);
  central_cmd->add_option("--ca-file", central.ca_file, "CA certificate for ssl://")->check(CLI::ExistingFile);
  central_cmd->add_option("--cert-file", central.cert_file, "Client certificate (mutual TLS)")->check(CLI::ExistingFile);
  central_cmd->add_option("--key-file", central.key_file, "Client key (mutual TLS)")->check(CLI::ExistingFile);
  central_cmd->add_flag("--summary", central.summary_only, "Print records, gaps and duplicates per gateway and stream, then exit");

  CLI11_PARSE(app, argc, argv);

  if (*describe_cmd) return describe(describe_what);
  if (*central_cmd) {
    try {
      if (!central_password_file.empty()) {
        std::vector<std::string> warnings;
        central.password = read_secret_file(central_password_file, "communegw central", "--password-file", warnings);
        for (const auto& warning : warnings) std::cerr << "warning: " << warning << '\n';
      }
      return run_central(central);
    } catch (const config_error& error) {
      std::cerr << error.what() << '\n';
      return 2;
    } catch (const sqlite::error& error) {
      std::cerr << "central: " << error.what() << '\n';
      return 1;
    }
  }
  if (*init_cmd) {
    init.config_path = config_path;
    return init_gateway(init);
  }
  try {
    const config cfg = load_config(config_path);
    if (*run) return run_gateway(cfg);
    if (*check) return check_gateway(cfg);
    if (*query_cmd) return query_store(cfg, query);
    if (*device_import) return import_devices(cfg, device_csv);
    if (*device_list_cmd) return query_store(cfg, device_list);
  } catch (const config_error& error) {
    if (*check) return check_failed_config(error.what());
    std::cerr << error.what() << '\n';
    return 2;
  } catch (const store_error& error) {
    std::cerr << "store: " << error.what() << '\n';
    return 1;
  } catch (const sqlite::error& error) {
    std::cerr << "store: " << error.what() << '\n';
    return 1;
  }
  return 2;
}
