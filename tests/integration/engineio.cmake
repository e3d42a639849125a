# The Engine.IO server (plugins/socketio/engine*.c, owner: engineio) against
# the real binary, through its echo fixture (tests/fixtures/eio_echo/),
# built into ${CMAKE_BINARY_DIR}/tests/plugins/eio_echo.so.
#
# The plugin's own CMakeLists.txt (plugins/socketio/, processed before
# tests/) may define parley_sio_codec and parley_sio_engine itself; then
# those targets are reused here.
if(NOT TARGET parley_sio_codec)
  file(GLOB _eio_codec_src CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/plugins/socketio/codec/*.c)
  list(FILTER _eio_codec_src EXCLUDE REGEX "/fuzz_[^/]*\\.c$")
  add_library(parley_sio_codec STATIC ${_eio_codec_src})
  target_include_directories(parley_sio_codec PUBLIC ${CMAKE_SOURCE_DIR}/plugins/socketio/codec)
  target_link_libraries(parley_sio_codec PUBLIC ParleySDK::sdk PkgConfig::CJSON m)
  set_target_properties(parley_sio_codec PROPERTIES
    POSITION_INDEPENDENT_CODE ON
    C_VISIBILITY_PRESET hidden)
endif()

if(NOT TARGET parley_sio_engine)
  file(GLOB _eio_engine_src CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/plugins/socketio/engine*.c)
  add_library(parley_sio_engine STATIC ${_eio_engine_src})
  target_include_directories(parley_sio_engine PUBLIC ${CMAKE_SOURCE_DIR}/plugins/socketio)
  target_link_libraries(parley_sio_engine PUBLIC parley_sio_codec)
  set_target_properties(parley_sio_engine PROPERTIES
    POSITION_INDEPENDENT_CODE ON
    C_VISIBILITY_PRESET hidden)
endif()

parley_add_plugin(fx_eio_echo
  SOURCES ${CMAKE_SOURCE_DIR}/tests/fixtures/eio_echo/eio_echo.c
  LIBRARIES parley_sio_engine
  OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/plugins)
set_target_properties(fx_eio_echo PROPERTIES OUTPUT_NAME eio_echo)

add_test(NAME integration.engineio
         COMMAND ${PARLEY_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_engineio.py)
set_tests_properties(integration.engineio PROPERTIES
  ENVIRONMENT "PARLEY_BUILD_DIR=${CMAKE_BINARY_DIR};PARLEY_SOURCE_DIR=${CMAKE_SOURCE_DIR};PYTHONPATH=${CMAKE_CURRENT_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1;ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1"
  TIMEOUT 300)
