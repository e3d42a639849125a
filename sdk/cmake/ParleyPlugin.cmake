# parley_add_plugin(<name> SOURCES <files...> [LIBRARIES <libs...>] [OUTPUT_DIRECTORY <dir>])
#
# Builds a Parley plugin the way the host expects it: a MODULE library
# named <name>.so (no "lib" prefix), C11, every symbol hidden except the
# one entry point (PARLEY_PLUGIN_ENTRY), and linked with -z defs so a
# missing symbol fails at build time instead of at dlopen.
#
# Used in-tree and shipped in the installed CMake package (ParleySDK).
function(parley_add_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 P "" "OUTPUT_DIRECTORY" "SOURCES;LIBRARIES")
  if(NOT P_SOURCES)
    message(FATAL_ERROR "parley_add_plugin(${name}): no SOURCES given")
  endif()
  add_library(${name} MODULE ${P_SOURCES})
  target_link_libraries(${name} PRIVATE ParleySDK::sdk ${P_LIBRARIES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_STANDARD 11
    C_STANDARD_REQUIRED ON
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_link_options(${name} PRIVATE "LINKER:-z,defs")
  if(P_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${P_OUTPUT_DIRECTORY})
  endif()
endfunction()
