# Writes a C++ file holding the web UI's files as byte arrays (the table of serve_assets.hpp).
#   cmake -DOUT=<file.cpp> -DSOURCES=<file;file;...> -P embed_assets.cmake
# Run by the build (CMakeLists.txt, section "web server") whenever a file in this folder changes.
set(body "// Generated from serve/web/ by embed_assets.cmake: do not edit.\n")
string(APPEND body "#include \"serve_assets.hpp\"\n\nnamespace vlrface::serve {\nnamespace {\n\n")
set(table "")
set(index 0)
foreach(file IN LISTS SOURCES)
  file(READ "${file}" hex HEX)
  string(LENGTH "${hex}" digits)
  math(EXPR bytes "${digits} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(REGEX REPLACE "((0x..,){24})" "\\1\n" hex "${hex}")
  get_filename_component(name "${file}" NAME)
  # The trailing 0 keeps an empty file a valid array.
  string(APPEND body "const unsigned char kAsset${index}[] = {\n${hex}0x00};\n\n")
  string(APPEND table "    {\"${name}\", kAsset${index}, ${bytes}},\n")
  math(EXPR index "${index} + 1")
endforeach()
string(APPEND body "}  // namespace\n\nconst WebAsset kWebAssets[] = {\n${table}};\n")
string(APPEND body "const std::size_t kWebAssetCount = ${index};\n\n}  // namespace vlrface::serve\n")
file(WRITE "${OUT}.tmp" "${body}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUT}.tmp" "${OUT}")
file(REMOVE "${OUT}.tmp")
