# Installation layout and the Debian package (CPack DEB):
#   cmake --build build --target package   ->  build/communegw_<version>_<arch>.deb
# The package holds the gateway binary, its config as a conffile, the systemd
# unit, the broker templates that `communegw init` installs, and maintainer
# scripts that create the `communegw` system user. Dependencies come from
# dpkg-shlibdeps, so the same rules serve amd64, arm64 and armhf builds.
include(GNUInstallDirs)

install(TARGETS communegw RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
# The simulator is a development tool: `cmake --install` puts it next to the
# gateway, the Debian package leaves it out.
install(TARGETS communegw-sim RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT tools)

# Absolute paths: /etc and /lib are the same whatever the prefix (/usr in the package).
install(FILES config/communegw.example.toml DESTINATION /etc/communegw RENAME communegw.toml COMPONENT runtime)
install(FILES deploy/communegw.service DESTINATION /lib/systemd/system COMPONENT runtime)
# Templates, not /etc/mosquitto/conf.d: installed there the snippet would stop
# mosquitto from starting until a password file exists. `communegw init`
# writes the snippet, the password file and the ACL together.
install(FILES deploy/mosquitto/communegw.conf deploy/mosquitto/communegw.acl
        DESTINATION ${CMAKE_INSTALL_DATADIR}/communegw/mosquitto COMPONENT runtime)
install(FILES README.md deploy/debian/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT runtime)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME communegw)
set(CPACK_PACKAGE_VENDOR "Commune Gateway project")
set(CPACK_PACKAGE_CONTACT "Commune Gateway maintainers <communegw@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "IoT edge gateway for rural communes: MQTT ingest into a durable SQLite store")
set(CPACK_PACKAGE_DESCRIPTION "communegw subscribes to the commune's local MQTT broker (streetlights,
environment stations, cameras, Zigbee/Tasmota/LoRaWAN bridges), validates and
normalises every message and keeps it in a local SQLite store that survives
power cuts and full disks. Run `communegw init` after installing.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_COMPONENTS_ALL runtime)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # communegw_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_STRIP_FILES ON)  # the Pi gets a ~2 MB binary, not ~22 MB of debug info
if(CMAKE_CROSSCOMPILING)
  # dpkg --print-architecture would name the build machine, and dpkg-shlibdeps
  # cannot see a sysroot's libraries: name both here.
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
    set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
  elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^arm")
    set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE armhf)
  else()
    message(FATAL_ERROR "packaging: no Debian architecture known for ${CMAKE_SYSTEM_PROCESSOR}")
  endif()
  # Written by hand: exactly what dpkg-shlibdeps finds for the native amd64
  # bookworm build (the libraries and their symbols files are the same on
  # every architecture). Keep it in step when a library is added; the
  # sysroot's dpkg database has no symbols files for dpkg-shlibdeps to read.
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, libc6 (>= 2.34), libfmt9 (>= 9.1.0+ds1), libgcc-s1 (>= 3.0), \
libpaho-mqtt1.3 (>= 1.3.0), libpaho-mqttpp3-1 (>= 1.2.0), libprotobuf-lite32 (>= 3.21.12), libsimdjson14 (>= 2.0.1), libspdlog1.10-fmt9, \
libsqlite3-0 (>= 3.20.0), libssl3 (>= 3.0.0), libstdc++6 (>= 12), libtomlplusplus3 (>= 3.2.0), libzstd1 (>= 1.5.2)")
else()
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
endif()
# The broker usually runs on the same board; init writes its configuration.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "mosquitto, mosquitto-clients")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles
    ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
    ${PROJECT_SOURCE_DIR}/deploy/debian/prerm
    ${PROJECT_SOURCE_DIR}/deploy/debian/postrm)
include(CPack)
