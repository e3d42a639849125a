# The Socket.IO plugin's protocol codec (owner: socketio codec helper).
# plugins/socketio/codec/ is built here as a static library, position
# independent so the future plugin (plugins/socketio/) can link it into its
# .so; its symbols are hidden so they never leak out of that plugin.
# fuzz_codec.c is a libFuzzer entry point for the hardening work and is
# deliberately not built here.
# The plugin's own CMakeLists.txt (processed before tests/) may define the
# same target, e.g. because the tests can be switched off; then it is reused.
if(NOT TARGET parley_sio_codec)
  file(GLOB _sio_codec_src CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/plugins/socketio/codec/*.c)
  list(FILTER _sio_codec_src EXCLUDE REGEX "/fuzz_[^/]*\\.c$")
  add_library(parley_sio_codec STATIC ${_sio_codec_src})
  target_include_directories(parley_sio_codec PUBLIC ${CMAKE_SOURCE_DIR}/plugins/socketio/codec)
  target_link_libraries(parley_sio_codec PUBLIC ParleySDK::sdk PkgConfig::CJSON m)
  set_target_properties(parley_sio_codec PROPERTIES
    POSITION_INDEPENDENT_CODE ON
    C_VISIBILITY_PRESET hidden)
endif()

foreach(_t eio_codec sio_codec)
  file(GLOB _src CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/test_${_t}*.c)
  if(NOT _src)
    continue()
  endif()
  add_executable(test_${_t} ${_src})
  target_link_libraries(test_${_t} PRIVATE parley_sio_codec PkgConfig::CMOCKA)
  add_test(NAME unit.${_t} COMMAND test_${_t})
  set_tests_properties(unit.${_t} PROPERTIES TIMEOUT 60
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
endforeach()
