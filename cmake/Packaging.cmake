# The Debian package: `cpack -G DEB` (or `cpack`) in the build dir writes
# modeld_<version>_amd64.deb; scripts/package-deb.sh builds it and checks it (lintian, an
# install into a clean Debian root, the service started there, an upgrade).
#
# The package holds modeld and modelctl in /usr/bin and, from the `debian` component below,
# the systemd unit, the default /etc/modeld/modeld.toml (a conffile), man pages made from
# --help, and the docs. The maintainer scripts in packaging/debian/ create the modeld system
# user and /var/lib/modeld. Dependencies are read from the libraries the binaries link
# (dpkg-shlibdeps).

set(MODELD_PACKAGE_VERSION "${PROJECT_VERSION}" CACHE STRING
    "Version of the Debian package (scripts/package-deb.sh builds a lower one to check upgrades)")
# The address the project's commits carry.
set(MODELD_PACKAGE_MAINTAINER "modeld maintainers <maintainers@users.noreply.r-seed-8d57d4e3.example>"
    CACHE STRING "Maintainer field of the Debian package")

# The component only the package installs. EXCLUDE_FROM_ALL: `cmake --install build --prefix
# DIR` still installs just the two binaries, and never writes to /etc or /lib.
set(MODELD_PACKAGE_COMPONENT debian)
set(modeld_package_staging "${CMAKE_CURRENT_BINARY_DIR}/package")

install(FILES packaging/modeld.service DESTINATION /lib/systemd/system
        COMPONENT ${MODELD_PACKAGE_COMPONENT} EXCLUDE_FROM_ALL)
install(FILES packaging/modeld.toml DESTINATION /etc/modeld
        COMPONENT ${MODELD_PACKAGE_COMPONENT} EXCLUDE_FROM_ALL)

# Man pages and the changelog are made when the package is (cmake/PackageFiles.cmake, run
# by the install step of this component), from the binaries just built: the man pages are
# always those binaries' --help, and nothing runs help2man in an ordinary build.
install(CODE "
  set(MODELD_SOURCE_DIR \"${PROJECT_SOURCE_DIR}\")
  set(MODELD_STAGING \"${modeld_package_staging}\")
  set(MODELD_MODELD \"$<TARGET_FILE:modeld>\")
  set(MODELD_MODELCTL \"$<TARGET_FILE:modelctl>\")
  set(MODELD_PACKAGE_VERSION \"${MODELD_PACKAGE_VERSION}\")
  set(MODELD_PACKAGE_MAINTAINER \"${MODELD_PACKAGE_MAINTAINER}\")
  include(\"${PROJECT_SOURCE_DIR}/cmake/PackageFiles.cmake\")
" COMPONENT ${MODELD_PACKAGE_COMPONENT} EXCLUDE_FROM_ALL)
install(FILES "${modeld_package_staging}/modeld.1.gz" "${modeld_package_staging}/modelctl.1.gz"
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT ${MODELD_PACKAGE_COMPONENT} EXCLUDE_FROM_ALL)
install(FILES "${modeld_package_staging}/changelog.gz" packaging/debian/copyright README.md docs/SECURITY.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT ${MODELD_PACKAGE_COMPONENT} EXCLUDE_FROM_ALL)

# Full RELRO (the GOT read-only once loaded), as dpkg-buildflags' bindnow hardening gives
# Debian's own packages; a link flag only, so nothing is compiled again for it.
target_link_options(modeld PRIVATE -Wl,-z,now)
target_link_options(modelctl PRIVATE -Wl,-z,now)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME modeld)
set(CPACK_PACKAGE_VERSION "${MODELD_PACKAGE_VERSION}")
set(CPACK_PACKAGE_CONTACT "${MODELD_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${MODELD_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "model-file service for GPU hosts: catalog, validation, loads")
# The extended description: CPack puts the summary above it and indents each line, an empty
# line becoming Debian's " .".
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "modeld owns the machine-learning model files of a GPU host
(Stable-Diffusion-style checkpoints, VAEs, LoRAs, text encoders,
TorchScript modules, GGUF and ONNX files): it catalogs the model roots,
validates files without running code from them, loads them into GPU or
CPU memory through libtorch, benchmarks them, and keeps metadata in
SQLite. Clients speak newline-delimited JSON over TCP.

This package runs it as a systemd service (the modeld user,
/etc/modeld/modeld.toml, /var/lib/modeld) and ships modelctl, the
operators' command line.")
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# modeld_<version>_amd64.deb, Debian's own naming.
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# dpkg-shlibdeps turns the libraries the binaries link into versioned Depends; adduser is
# what postinst uses to create the modeld user.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/packaging/debian/conffiles;${PROJECT_SOURCE_DIR}/packaging/debian/postinst;${PROJECT_SOURCE_DIR}/packaging/debian/prerm;${PROJECT_SOURCE_DIR}/packaging/debian/postrm")
# 0755 for the maintainer scripts, 0644 for conffiles, whatever the checkout's modes.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
# One package from both components: the binaries (the default component) and the rest.
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_COMPONENTS_ALL Unspecified ${MODELD_PACKAGE_COMPONENT})
include(CPack)
