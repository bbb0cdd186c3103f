# Cross-compiling for arm64 (Raspberry Pi 5, Debian/Raspberry Pi OS bookworm) on an x86-64 Debian.
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
#         -DVLRFACE_SYSROOT=/path/to/arm64-sysroot
# The compiler is Debian's crossbuild-essential-arm64 (aarch64-linux-gnu-g++). The libraries come
# from an arm64 root file system holding the same -dev packages as scripts/setup.sh installs
# (scripts/arm64.sh makes one with mmdebstrap): Debian's libopencv-dev is not Multi-Arch: same,
# so installing libopencv-dev:arm64 would remove the amd64 one (and python3-torch with it).
# Without VLRFACE_SYSROOT the multiarch layout of the host itself (/usr/lib/aarch64-linux-gnu)
# is searched, for a machine where the :arm64 -dev packages are installed.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Passed on to try_compile projects, which re-read this file.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES VLRFACE_SYSROOT)
if(NOT VLRFACE_SYSROOT AND DEFINED ENV{VLRFACE_SYSROOT})
  set(VLRFACE_SYSROOT "$ENV{VLRFACE_SYSROOT}")
endif()

if(VLRFACE_SYSROOT)
  set(CMAKE_SYSROOT "${VLRFACE_SYSROOT}")
  set(CMAKE_FIND_ROOT_PATH "${VLRFACE_SYSROOT}")
  # pkg-config (cpp-httplib) must read the sysroot's .pc files and prefix their paths with it.
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "${VLRFACE_SYSROOT}")
  set(ENV{PKG_CONFIG_LIBDIR}
    "${VLRFACE_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:${VLRFACE_SYSROOT}/usr/share/pkgconfig")
  set(ENV{PKG_CONFIG_PATH} "")
  # Libraries needed only by other libraries (OpenCV's dependencies) are found at link time
  # through the sysroot's multiarch directories.
  set(_vlr_libdirs "${VLRFACE_SYSROOT}/usr/lib/aarch64-linux-gnu")
  string(APPEND CMAKE_EXE_LINKER_FLAGS_INIT " -Wl,-rpath-link,${_vlr_libdirs}")
  string(APPEND CMAKE_SHARED_LINKER_FLAGS_INIT " -Wl,-rpath-link,${_vlr_libdirs}")
else()
  set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
endif()

# Programs (cmake, pkg-config) from the host; headers, libraries and packages from the target.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Tests run through the emulator: CTest and gtest_discover_tests prefix the test binaries with it.
find_program(VLRFACE_QEMU qemu-aarch64-static)
if(VLRFACE_QEMU)
  if(VLRFACE_SYSROOT)
    set(CMAKE_CROSSCOMPILING_EMULATOR "${VLRFACE_QEMU};-L;${VLRFACE_SYSROOT}")
  else()
    set(CMAKE_CROSSCOMPILING_EMULATOR "${VLRFACE_QEMU};-L;/usr/aarch64-linux-gnu")
  endif()
endif()
