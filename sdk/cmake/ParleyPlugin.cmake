# parley_add_plugin(<name> SOURCES <files...> [LIBRARIES <libs...>]
#                   [OUTPUT_DIRECTORY <dir>] [INSTALL [DESTINATION <dir>]])
#
# Builds a Parley plugin the way the host expects it: a MODULE library
# named <name>.so (no "lib" prefix), C11, position-independent, every symbol
# hidden except the one entry point (PARLEY_PLUGIN_ENTRY), and linked with
# -z defs so a missing symbol fails at build time instead of at dlopen.
#
# OUTPUT_DIRECTORY  where the .so is written. Default: in the Parley tree,
#                   the directory build/bin/parley loads plugins from
#                   (PARLEY_PLUGIN_OUTPUT_DIR); elsewhere CMake's default.
# INSTALL           also install the .so (cmake --install). DESTINATION
#                   defaults to the host's plugin directory relative to the
#                   install prefix (lib/parley/plugins unless the host was
#                   configured with another libdir), so installing into the
#                   host's prefix makes the plugin loadable by name.
#
# Used in-tree and shipped in the installed CMake package (ParleySDK).
function(parley_add_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 P "INSTALL" "OUTPUT_DIRECTORY;DESTINATION" "SOURCES;LIBRARIES")
  if(NOT P_SOURCES)
    message(FATAL_ERROR "parley_add_plugin(${name}): no SOURCES given")
  endif()
  if(P_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "parley_add_plugin(${name}): unexpected arguments: ${P_UNPARSED_ARGUMENTS}")
  endif()
  if(P_DESTINATION AND NOT P_INSTALL)
    message(FATAL_ERROR "parley_add_plugin(${name}): DESTINATION without INSTALL")
  endif()

  add_library(${name} MODULE ${P_SOURCES})
  target_link_libraries(${name} PRIVATE ParleySDK::sdk ${P_LIBRARIES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    SUFFIX ".so"
    C_STANDARD 11
    C_STANDARD_REQUIRED ON
    POSITION_INDEPENDENT_CODE ON
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_link_options(${name} PRIVATE "LINKER:-z,defs")

  if(P_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${P_OUTPUT_DIRECTORY})
  elseif(DEFINED PARLEY_PLUGIN_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${PARLEY_PLUGIN_OUTPUT_DIR})
  endif()

  if(P_INSTALL)
    if(P_DESTINATION)
      set(_dest ${P_DESTINATION})
    elseif(DEFINED PARLEY_PLUGIN_SUBDIR)          # in the Parley tree
      set(_dest ${PARLEY_PLUGIN_SUBDIR})
    elseif(DEFINED PARLEY_SDK_PLUGIN_SUBDIR)      # from find_package(ParleySDK)
      set(_dest ${PARLEY_SDK_PLUGIN_SUBDIR})
    else()
      set(_dest lib/parley/plugins)
    endif()
    install(TARGETS ${name} LIBRARY DESTINATION ${_dest})
  endif()
endfunction()
