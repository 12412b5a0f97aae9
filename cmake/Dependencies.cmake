# Finds modeld's dependencies and exposes each as an imported target named deps::<name>.
# CAF 0.17 (libcaf-dev) and Debian's libtorch ship no CMake package, so they are found by hand
# (libtorch in cmake/Torch.cmake).

find_package(Threads REQUIRED)

function(modeld_find_library target header library)
  find_path(${target}_INCLUDE_DIR ${header} PATHS ${ARGN})
  find_library(${target}_LIBRARY ${library})
  if(NOT ${target}_INCLUDE_DIR OR NOT ${target}_LIBRARY)
    message(FATAL_ERROR "modeld: ${library} not found (header ${header}); run scripts/install-deps.sh")
  endif()
  add_library(deps::${target} UNKNOWN IMPORTED)
  set_target_properties(deps::${target} PROPERTIES
    IMPORTED_LOCATION "${${target}_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${${target}_INCLUDE_DIR}")
endfunction()

modeld_find_library(openssl_crypto openssl/evp.h crypto)
modeld_find_library(sqlite3 sqlite3.h sqlite3)

# zlib (zlib1g-dev): raw DEFLATE and CRC-32 of zip entries (formats/inflate.cpp, crc32.cpp).
find_package(ZLIB REQUIRED)
add_library(deps::zlib ALIAS ZLIB::ZLIB)

if(MODELD_TESTS)
  find_package(Catch2 2 REQUIRED)
endif()

if(NOT MODELD_FORMATS_ONLY)
  modeld_find_library(caf_core caf/all.hpp caf_core)
  modeld_find_library(caf_io caf/io/all.hpp caf_io)
  target_link_libraries(deps::caf_io INTERFACE deps::caf_core)

  find_path(ASIO_INCLUDE_DIR asio.hpp)
  if(NOT ASIO_INCLUDE_DIR)
    message(FATAL_ERROR "modeld: standalone Asio not found; run scripts/install-deps.sh")
  endif()
  add_library(deps::asio INTERFACE IMPORTED)
  set_target_properties(deps::asio PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${ASIO_INCLUDE_DIR}"
    INTERFACE_COMPILE_DEFINITIONS "ASIO_STANDALONE;ASIO_NO_DEPRECATED"
    INTERFACE_LINK_LIBRARIES Threads::Threads)

  find_package(Boost 1.81 REQUIRED COMPONENTS json)
  add_library(deps::boost_json ALIAS Boost::json)

  # mimalloc: the service allocates many small short-lived objects per request (JSON,
  # actor messages); glibc malloc was a fifth of the status path's CPU time.
  find_library(MIMALLOC_LIBRARY NAMES mimalloc)
  add_library(deps::malloc INTERFACE IMPORTED)
  if(MODELD_SANITIZE)
    # The sanitizers bring their own allocator, which must see every allocation.
  elseif(MIMALLOC_LIBRARY)
    set_target_properties(deps::malloc PROPERTIES INTERFACE_LINK_LIBRARIES "${MIMALLOC_LIBRARY}")
  else()
    message(WARNING "modeld: mimalloc not found; using the system allocator")
  endif()

  # spdlog (with Debian's external fmt) writes the structured log lines of actors/log.cpp.
  find_package(spdlog REQUIRED)
  add_library(deps::spdlog ALIAS spdlog::spdlog)

  find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp)
  if(NOT CLI11_INCLUDE_DIR)
    message(FATAL_ERROR "modeld: CLI11 not found; run scripts/install-deps.sh")
  endif()
  add_library(deps::cli11 INTERFACE IMPORTED)
  set_target_properties(deps::cli11 PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${CLI11_INCLUDE_DIR}")

  # ncurses with wide characters (ncursesw: model ids may hold any UTF-8) draws `modelctl top`.
  set(CURSES_NEED_NCURSES TRUE)
  set(CURSES_NEED_WIDE TRUE)
  find_package(Curses)
  if(NOT CURSES_FOUND)
    message(FATAL_ERROR "modeld: ncursesw not found; run scripts/install-deps.sh")
  endif()
  add_library(deps::curses INTERFACE IMPORTED)
  set_target_properties(deps::curses PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${CURSES_INCLUDE_DIRS}"
    INTERFACE_COMPILE_OPTIONS "${CURSES_CFLAGS}"
    INTERFACE_LINK_LIBRARIES "${CURSES_LIBRARIES}")

  include(${CMAKE_CURRENT_LIST_DIR}/Torch.cmake)
endif()
