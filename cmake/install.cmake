# install() rules and the Debian packages: `cpack -G DEB` in a build folder writes
# vlrface_<version>_<arch>.deb (amd64 natively; arm64 from the cross build, scripts/arm64.sh).
# Layout: <prefix>/bin/vlrface finds <prefix>/share/vlrface/models beside itself
# (src/models.cpp), the same relative layout as the build tree.

# Prepared models (scripts/setup.sh writes them into the build tree). The cross build takes the
# native build's: the ONNX files and manifests do not depend on the architecture.
set(VLRFACE_PACKAGE_MODELS "${CMAKE_BINARY_DIR}/share/vlrface/models" CACHE PATH
  "prepared model directory that install() and the packages take")

install(TARGETS vlrface RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# verify/ is set-up's test data (faces from ORL with PyTorch's embeddings), not a model.
install(DIRECTORY ${VLRFACE_PACKAGE_MODELS}/
  DESTINATION ${CMAKE_INSTALL_DATADIR}/vlrface/models OPTIONAL
  PATTERN verify EXCLUDE)

# The systemd unit, with the installed binary's path filled in when installing: the prefix is
# only known then (/usr/local for `cmake --install`, /usr for the packages).
install(CODE "
  set(_unit \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/system/vlrface.service\")
  set(CMAKE_INSTALL_FULL_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
  message(STATUS \"Installing: \${_unit}\")
  configure_file(\"${CMAKE_SOURCE_DIR}/packaging/vlrface.service\" \"\${_unit}\" @ONLY)
  file(CHMOD \"\${_unit}\" PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
")

# /usr/share/doc/vlrface: the models' licences (copyright, Debian's format) and the changelog,
# compressed as Debian policy asks (-n: no time stamp, so the package is reproducible).
set(VLRFACE_DOC_DIR ${CMAKE_INSTALL_DATADIR}/doc/vlrface)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/copyright DESTINATION ${VLRFACE_DOC_DIR})
find_program(GZIP_EXECUTABLE gzip REQUIRED)
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/packaging/changelog.gz
  COMMAND ${GZIP_EXECUTABLE} -9 -n -c ${CMAKE_SOURCE_DIR}/packaging/changelog
    > ${CMAKE_BINARY_DIR}/packaging/changelog.gz
  DEPENDS ${CMAKE_SOURCE_DIR}/packaging/changelog VERBATIM)
set(VLRFACE_PACKAGING_OUTPUTS ${CMAKE_BINARY_DIR}/packaging/changelog.gz)
install(FILES ${CMAKE_BINARY_DIR}/packaging/changelog.gz DESTINATION ${VLRFACE_DOC_DIR})

# A man page from `vlrface --help` when help2man (Debian's help2man) is there. A cross-built
# binary runs through the emulator to print its help.
find_program(HELP2MAN_EXECUTABLE help2man)
if(HELP2MAN_EXECUTABLE AND (NOT CMAKE_CROSSCOMPILING OR CMAKE_CROSSCOMPILING_EMULATOR))
  list(JOIN CMAKE_CROSSCOMPILING_EMULATOR "\" \"" _vlr_emu)
  if(_vlr_emu)
    set(_vlr_emu "\"${_vlr_emu}\" ")
  endif()
  file(GENERATE OUTPUT ${CMAKE_BINARY_DIR}/packaging/vlrface-help
    CONTENT "#!/bin/sh\nexec ${_vlr_emu}\"$<TARGET_FILE:vlrface>\" \"$@\"\n"
    FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE)
  add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/packaging/vlrface.1.gz
    COMMAND ${HELP2MAN_EXECUTABLE} --no-info --no-discard-stderr --section=1
      --name=face\ recognition\ for\ very-low-resolution\ faces
      --output=${CMAKE_BINARY_DIR}/packaging/vlrface.1 ${CMAKE_BINARY_DIR}/packaging/vlrface-help
    COMMAND ${GZIP_EXECUTABLE} -9 -n -f ${CMAKE_BINARY_DIR}/packaging/vlrface.1
    DEPENDS vlrface VERBATIM)
  list(APPEND VLRFACE_PACKAGING_OUTPUTS ${CMAKE_BINARY_DIR}/packaging/vlrface.1.gz)
  install(FILES ${CMAKE_BINARY_DIR}/packaging/vlrface.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
endif()
add_custom_target(vlrface_packaging_files ALL DEPENDS ${VLRFACE_PACKAGING_OUTPUTS})

# ---- cpack -G DEB ----
set(CPACK_PACKAGE_NAME vlrface)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "vlrface maintainers <vlrface@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "face recognition for very-low-resolution faces")
# CPack puts the summary first and indents these lines itself.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "vlrface recognises faces down to 16x16 pixels on small computers such as a
Raspberry Pi 5: detection (YuNet), alignment, recovery of small faces and
EdgeFace embeddings, matched against a local SQLite gallery. The vlrface
command enrols, identifies and verifies; `vlrface serve` is a live camera view
with a web page and REST API, also installed as the vlrface systemd service
(disabled until enabled). The models are included.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # vlrface_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION video)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://localhost/vlrface")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${CMAKE_SOURCE_DIR}/packaging/deb/postinst
  ${CMAKE_SOURCE_DIR}/packaging/deb/prerm
  ${CMAKE_SOURCE_DIR}/packaging/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
# adduser: postinst makes the system user; ffmpeg: `vlrface serve` reads cameras through it.
set(_vlr_depends "adduser, ffmpeg")
if(CMAKE_CROSSCOMPILING)
  # dpkg --print-architecture would say amd64 here.
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
  # dpkg-shlibdeps needs the arm64 libraries registered with dpkg, which the sysroot's unpacked
  # (not installed) packages are not: scripts/arm64.sh passes the amd64 package's shared-library
  # dependencies after checking that both binaries need the same libraries (same bookworm
  # packages, same versions on both architectures).
  set(VLRFACE_DEB_SHLIB_DEPENDS "" CACHE STRING
    "shared-library Depends of the cross-built package (scripts/arm64.sh computes them)")
  if(VLRFACE_DEB_SHLIB_DEPENDS)
    string(APPEND _vlr_depends ", ${VLRFACE_DEB_SHLIB_DEPENDS}")
  endif()
else()
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
endif()
set(CPACK_DEBIAN_PACKAGE_DEPENDS "${_vlr_depends}")
set(CPACK_GENERATOR DEB)
include(CPack)

# The version the package carries, also shown by `vlrface bench --report`.
target_compile_definitions(vlrface PRIVATE VLRFACE_VERSION="${PROJECT_VERSION}")
