// stb_image's implementation, from Debian's libstb-dev header, compiled with the fuzzers'
// instrumentation (see fuzz/CMakeLists.txt). Options as Debian's libstb.so is built: none.
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
