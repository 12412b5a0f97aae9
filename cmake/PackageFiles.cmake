# Run by the install step of the `debian` component (cmake/Packaging.cmake), that is when CPack
# makes the package: writes into MODELD_STAGING the man pages, made by help2man from the
# built binaries' --help and --version (plus packaging/man/*.h2m), and the Debian changelog,
# each compressed with gzip -9n as Debian wants them (no name or time in the gzip header).
# SOURCE_DATE_EPOCH, when set, fixes the date in both.

find_program(MODELD_HELP2MAN help2man)
find_program(MODELD_GZIP gzip)
if(NOT MODELD_HELP2MAN OR NOT MODELD_GZIP)
  message(FATAL_ERROR "modeld: the package's man pages need help2man and gzip; run scripts/install-deps.sh")
endif()
file(MAKE_DIRECTORY "${MODELD_STAGING}")

set(modeld_man_name "model-file service for GPU hosts (NDJSON over TCP)")
set(modelctl_man_name "operators' command line for modeld")
foreach(tool modeld modelctl)
  if(tool STREQUAL "modeld")
    set(binary "${MODELD_MODELD}")
  else()
    set(binary "${MODELD_MODELCTL}")
  endif()
  execute_process(
    COMMAND "${MODELD_HELP2MAN}" --no-info --section=1 "--name=${${tool}_man_name}"
            "--include=${MODELD_SOURCE_DIR}/packaging/man/${tool}.h2m" "--output=${MODELD_STAGING}/${tool}.1"
            "${binary}"
    RESULT_VARIABLE status ERROR_VARIABLE errors)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "modeld: help2man failed on ${binary} (status ${status}): ${errors}")
  endif()
  file(REMOVE "${MODELD_STAGING}/${tool}.1.gz")
  execute_process(COMMAND "${MODELD_GZIP}" -9n "${MODELD_STAGING}/${tool}.1" RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "modeld: gzip of ${tool}.1 failed")
  endif()
endforeach()

# A native package's changelog (/usr/share/doc/modeld/changelog.gz) in Debian's format; the
# history itself is the source repository's git log.
string(TIMESTAMP date "%a, %d %b %Y %H:%M:%S +0000" UTC)
file(WRITE "${MODELD_STAGING}/changelog"
"modeld (${MODELD_PACKAGE_VERSION}) unstable; urgency=medium

  * Package built by CPack from the CMake build (cmake/Packaging.cmake). The
    changes are in the source repository's git log.

 -- ${MODELD_PACKAGE_MAINTAINER}  ${date}
")
file(REMOVE "${MODELD_STAGING}/changelog.gz")
execute_process(COMMAND "${MODELD_GZIP}" -9n "${MODELD_STAGING}/changelog" RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "modeld: gzip of the changelog failed")
endif()
